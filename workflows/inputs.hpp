// Where run inputs come from. An InputSource yields RunInputs one at a
// time, so a large input file is never loaded whole and an error on line
// 900 does not stop items 1..899 from running and being recorded.
// JsonlInputs reads one JSON object per line: `question` (or `prompt`) is
// required, `id` (string or number) and `answer` (gold; string or number)
// are optional; blank lines are skipped. A bad line is an Error
// "FILE:LINE: what is wrong", returned by next() when that line is reached.
// Lines are read with LineReader: a UTF-8 byte-order mark at the start of
// the file is skipped, and a line longer than the limit (kMaxInputLineBytes
// unless given) is an Error naming its number and the limit, read no
// further than the limit, so memory stays bounded whatever the file holds.
#pragma once

#include <cstddef>
#include <fstream>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/pipeline.hpp"
#include "common/error.hpp"

namespace troupe::workflows {

// The longest input line read by default: 16 MiB (long contexts fit;
// a runaway file does not).
inline constexpr size_t kMaxInputLineBytes = size_t{16} << 20;

// Lines of a stream, '\n'-terminated (a final line without one counts),
// each returned without its '\n'. A line longer than `max_bytes` is an Error
// "NAME:LINE: line longer than the limit of N bytes ..." after reading
// max_bytes + 1 of its bytes; the next call goes on after that line. A UTF-8
// byte-order mark at the start of the stream is dropped. Reads through the
// stream's buffer; holds at most one line of at most max_bytes.
class LineReader {
 public:
  LineReader(std::istream& in, std::string name, size_t max_bytes = kMaxInputLineBytes)
      : in_(in), name_(std::move(name)), max_bytes_(max_bytes) {}
  // The next line, nullopt at the end of the stream, or an Error.
  Result<std::optional<std::string>> next();
  // The 1-based number of the line last returned (or refused).
  int64_t line_no() const { return line_no_; }

 private:
  std::istream& in_;
  std::string name_;
  size_t max_bytes_;
  int64_t line_no_ = 0;
  bool skip_rest_ = false;  // the last line was too long: skip to its end first
};

class InputSource {
 public:
  virtual ~InputSource() = default;
  // The next input, nullopt at the end, or an Error for a bad input.
  virtual Result<std::optional<actors::RunInput>> next() = 0;
};

class JsonlInputs : public InputSource {
 public:
  static Result<std::unique_ptr<JsonlInputs>> open(const std::string& path,
                                                   size_t max_line_bytes = kMaxInputLineBytes);
  Result<std::optional<actors::RunInput>> next() override;
  // Parses one line (1-based `line_no`) the way next() does.
  static Result<actors::RunInput> parse_line(const std::string& line, const std::string& path, int64_t line_no);

 private:
  std::string path_;
  std::ifstream in_;
  std::unique_ptr<LineReader> lines_;
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

// Counts the non-blank lines of a file (for progress totals); 0 if
// unreadable. Holds no line in memory, however long.
int64_t count_input_lines(const std::string& path);

}  // namespace troupe::workflows
