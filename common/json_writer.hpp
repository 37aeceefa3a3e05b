// A small streaming JSON writer: the one way troupe produces JSON (HTTP
// bodies, stored records, JSONL exports). Output is RFC 8259 text: strings
// escape '"', '\\' and every control character below U+0020; bytes that are
// not valid UTF-8 are replaced by U+FFFD, so the output is always valid
// UTF-8 whatever the model wrote. Non-finite doubles are written as null.
// Commas and nesting are tracked for the caller; misuse (a value where a key
// is due, unbalanced end_*) is a programming error caught by assert.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace troupe {

// Appends `s` as a quoted, escaped JSON string.
void append_json_string(std::string& out, std::string_view s);
// `s` as a quoted, escaped JSON string.
std::string json_quote(std::string_view s);
// Replaces invalid UTF-8 sequences in `s` with U+FFFD.
std::string sanitize_utf8(std::string_view s);

class JsonWriter {
 public:
  // Appends to `out`; the writer never clears it.
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);

  JsonWriter& value(std::string_view v);
  JsonWriter& value(const std::string& v) { return value(std::string_view(v)); }
  JsonWriter& value(const char* v) { return value(std::string_view(v)); }
  JsonWriter& value(bool v);
  JsonWriter& value(int v) { return write_int(v); }
  JsonWriter& value(long v) { return write_int(v); }
  JsonWriter& value(long long v) { return write_int(v); }
  JsonWriter& value(unsigned v) { return write_uint(v); }
  JsonWriter& value(unsigned long v) { return write_uint(v); }
  JsonWriter& value(unsigned long long v) { return write_uint(v); }
  JsonWriter& value(double v);
  JsonWriter& null();
  // Inserts already-encoded JSON (for example a stored record) as one value.
  JsonWriter& raw(std::string_view json);

  // key(k).value(v) in one call.
  template <class T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

  // True when every opened object/array has been closed.
  bool complete() const { return stack_.empty() && wrote_root_; }

 private:
  JsonWriter& write_int(long long v);
  JsonWriter& write_uint(unsigned long long v);
  void before_value();

  struct Frame {
    bool is_object;
    bool first = true;
    bool expect_value = false;  // objects: a key was written
  };
  std::string& out_;
  std::vector<Frame> stack_;
  bool wrote_root_ = false;
};

}  // namespace troupe
