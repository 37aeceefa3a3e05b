#include "engine/sse.hpp"

#include "common/json_writer.hpp"
#include "engine/json_read.hpp"
#include "engine/wire.hpp"
#include "engine/wire_detail.hpp"

namespace troupe::engine {

void SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (bytes[i] == '\n') {
        ++i;
        continue;
      }
    }
    size_t end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      line_.append(bytes.substr(i));
      return;
    }
    line_.append(bytes.substr(i, end - i));
    skip_lf_ = bytes[end] == '\r';
    end_line(out);
    i = end + 1;
  }
}

void SseParser::end_line(std::vector<SseEvent>& out) {
  if (line_.empty()) {  // dispatch
    if (has_data_) {
      if (!current_.data.empty() && current_.data.back() == '\n') current_.data.pop_back();
      out.push_back(std::move(current_));
    }
    current_ = SseEvent{};
    has_data_ = false;
    return;
  }
  if (line_[0] != ':') {
    std::string_view line(line_);
    size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    }
    if (name == "data") {
      current_.data.append(value);
      current_.data.push_back('\n');
      has_data_ = true;
    } else if (name == "event") {
      current_.event = value;
    }  // "id", "retry" and unknown fields are ignored
  }
  line_.clear();
}

StreamAccumulator::StreamAccumulator(int n) : choices_(static_cast<size_t>(n < 1 ? 1 : n)), finished_(choices_.size()) {
  for (size_t i = 0; i < choices_.size(); ++i) choices_[i].index = static_cast<int>(i);
}

Status StreamAccumulator::add(std::string_view data, const DeltaFn& on_delta) {
  namespace detail = wire::detail;
  if (data == "[DONE]") {
    done_ = true;
    return {};
  }
  auto doc = json::parse(parser_, data, "stream chunk");
  if (!doc.ok()) return doc.error();
  json::Object obj;
  if (doc->get_object().get(obj) != simdjson::SUCCESS) {
    return Error{ErrorCode::parse, "stream chunk: expected object"};
  }
  if (auto err = detail::error_from_object(obj, 500)) return err->with_context("error in stream");
  if (auto m = json::field(obj, "model")) {
    std::string_view s;
    if (m->get_string().get(s) == simdjson::SUCCESS) model_ = s;
  }
  if (auto u = json::field(obj, "usage")) {
    auto st = detail::read_usage(*u, "usage", usage_);
    if (!st.ok()) return st.error().with_context("stream chunk");
  }
  auto choices = json::field(obj, "choices");
  if (!choices) return {};
  auto arr = json::as_array(*choices, "stream chunk: choices");
  if (!arr.ok()) return arr.error();
  size_t pos = 0;
  for (json::Element e : *arr) {
    std::string path = "stream chunk: " + json::join("choices", pos++);
    auto c = json::as_object(e, path);
    if (!c.ok()) return c.error();
    int64_t index = 0;
    if (auto idx = json::field(*c, "index")) {
      auto i = json::as_int(*idx, json::join(path, "index"));
      if (!i.ok()) return i.error();
      index = *i;
    }
    if (index < 0 || index >= static_cast<int64_t>(choices_.size())) {
      return Error{ErrorCode::parse, json::join(path, "index") + ": " + std::to_string(index) +
                                         " outside 0.." + std::to_string(choices_.size() - 1)};
    }
    Choice& out = choices_[static_cast<size_t>(index)];
    std::string_view text;
    if (auto delta = json::field(*c, "delta")) {
      auto d = json::as_object(*delta, json::join(path, "delta"));
      if (!d.ok()) return d.error();
      if (auto content = json::field(*d, "content")) {
        auto s = json::as_string(*content, json::join(path, "delta.content"));
        if (!s.ok()) return s.error();
        text = *s;
      }
    } else if (auto t = json::field(*c, "text")) {
      auto s = json::as_string(*t, json::join(path, "text"));
      if (!s.ok()) return s.error();
      text = *s;
    }
    if (auto lp = json::field(*c, "logprobs")) {
      auto st = detail::read_logprobs(*lp, json::join(path, "logprobs"), out.logprobs);
      if (!st.ok()) return st.error();
    }
    if (!text.empty()) {
      out.text.append(text);
      if (on_delta) {
        delivered_ = true;
        on_delta(static_cast<int>(index), std::string(text));
      }
    }
    bool finished = false;
    auto st = detail::read_finish(*c, path, out, finished);
    if (!st.ok()) return st.error();
    if (finished) finished_[static_cast<size_t>(index)] = true;
  }
  return {};
}

bool StreamAccumulator::all_finished() const {
  for (bool f : finished_) {
    if (!f) return false;
  }
  return true;
}

std::vector<int> StreamAccumulator::unfinished() const {
  std::vector<int> out;
  for (size_t i = 0; i < finished_.size(); ++i) {
    if (!finished_[i]) out.push_back(static_cast<int>(i));
  }
  return out;
}

GenerateResult StreamAccumulator::result(FinishReason unfinished_as, const std::string& note) const {
  GenerateResult r;
  r.model = model_;
  r.usage = usage_;
  r.choices = choices_;
  for (size_t i = 0; i < r.choices.size(); ++i) {
    if (!finished_[i]) {
      r.choices[i].finish = unfinished_as;
      r.choices[i].error = note;
    }
  }
  return r;
}

}  // namespace troupe::engine
