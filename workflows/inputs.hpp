// Where run inputs come from. An InputSource yields RunInputs one at a
// time, so a large input file is never loaded whole and an error on line
// 900 does not stop items 1..899 from running and being recorded.
// JsonlInputs reads one JSON object per line: `question` (or `prompt`) is
// required, `id` (string or number) and `answer` (gold; string or number)
// are optional; blank lines are skipped. A bad line is an Error
// "FILE:LINE: what is wrong", returned by next() when that line is reached.
#pragma once

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/pipeline.hpp"
#include "common/error.hpp"

namespace troupe::workflows {

class InputSource {
 public:
  virtual ~InputSource() = default;
  // The next input, nullopt at the end, or an Error for a bad input.
  virtual Result<std::optional<actors::RunInput>> next() = 0;
};

class JsonlInputs : public InputSource {
 public:
  static Result<std::unique_ptr<JsonlInputs>> open(const std::string& path);
  Result<std::optional<actors::RunInput>> next() override;
  // Parses one line (1-based `line_no`) the way next() does.
  static Result<actors::RunInput> parse_line(const std::string& line, const std::string& path, int64_t line_no);

 private:
  std::string path_;
  std::ifstream in_;
  int64_t line_no_ = 0;
};

class VectorInputs : public InputSource {
 public:
  explicit VectorInputs(std::vector<actors::RunInput> items) : items_(std::move(items)) {}
  Result<std::optional<actors::RunInput>> next() override {
    if (pos_ >= items_.size()) return std::optional<actors::RunInput>{};
    return std::optional<actors::RunInput>{items_[pos_++]};
  }

 private:
  std::vector<actors::RunInput> items_;
  size_t pos_ = 0;
};

// Counts the non-blank lines of a file (for progress totals); 0 if unreadable.
int64_t count_input_lines(const std::string& path);

}  // namespace troupe::workflows
