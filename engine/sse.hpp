// Reading OpenAI/vLLM streams (Server-Sent Events).
//
// SseParser turns a byte stream, fed in chunks split anywhere, into events:
// lines end in "\r\n", "\n" or "\r"; lines starting with ':' are comments;
// several "data:" lines join with '\n'; an empty line ends an event (an
// event without data is dropped). The same bytes give the same events
// however they are split.
//
// StreamAccumulator turns the data payloads of one reply into a
// GenerateResult: chunks for different choice indices may interleave (n>1);
// chat "delta.content" and completion "text" are appended per index; each
// index finishes on its own finish_reason; the usage chunk sets usage;
// "[DONE]" marks a clean end. An error payload in the stream, malformed
// JSON, or an index outside 0..n-1 makes add() return an Error; the
// accumulator is then unusable.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "common/error.hpp"
#include "engine/backend.hpp"

namespace troupe::engine {

struct SseEvent {
  std::string event;  // "event:" field; empty = "message"
  std::string data;   // "data:" lines joined by '\n'
};

class SseParser {
 public:
  // Appends every event completed by `bytes` to `out`.
  void feed(std::string_view bytes, std::vector<SseEvent>& out);
  // True when bytes of an unfinished line or event are buffered (a stream
  // that ends here was cut).
  bool has_partial() const { return !line_.empty() || has_data_; }

 private:
  void end_line(std::vector<SseEvent>& out);

  std::string line_;
  SseEvent current_;
  bool has_data_ = false;
  bool skip_lf_ = false;  // the previous byte was '\r'
};

class StreamAccumulator {
 public:
  using DeltaFn = std::function<void(int index, const std::string& text)>;

  // `n`: the number of choices the reply must carry (indices 0..n-1).
  explicit StreamAccumulator(int n);

  // Handles the data of one SSE event. Calls `on_delta` (when set) for each
  // non-empty piece of text, with the choice index.
  Status add(std::string_view data, const DeltaFn& on_delta);

  bool saw_done() const { return done_; }
  bool all_finished() const;
  // Whether any text went to on_delta.
  bool delivered_any() const { return delivered_; }
  // Indices that have not finished.
  std::vector<int> unfinished() const;

  // The reply so far: finished choices as the server ended them, unfinished
  // ones with their text so far and finish `unfinished_as` (with `note` in
  // Choice::error).
  GenerateResult result(FinishReason unfinished_as, const std::string& note) const;

 private:
  simdjson::dom::parser parser_;
  std::vector<Choice> choices_;
  std::vector<bool> finished_;
  Usage usage_;
  std::string model_;
  bool done_ = false;
  bool delivered_ = false;
};

}  // namespace troupe::engine
