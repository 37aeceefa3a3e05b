// Constrained JSON output: a JSON Schema subset compiled into a grammar, and
// a byte-level pushdown matcher that says which continuations keep the text
// a valid prefix of a document the grammar accepts. The local engine masks
// each step's logits with it (engine/local/token_constraint.hpp); the wire
// parser compiles request schemas with it so a bad schema is a 400 naming
// its path.
//
// What callers may rely on:
// - Grammar::any_object() accepts any JSON object (response_format
//   json_object). Grammar::from_schema() accepts the subset documented in
//   docs/engine.md ("Structured output"): type (one or a list of object,
//   array, string, number, integer, boolean, null), properties, required,
//   additionalProperties, items, enum and const of scalars, anyOf,
//   minItems/maxItems, minLength/maxLength, local $ref into $defs or
//   definitions, and annotations (title, description, default, examples,
//   $schema, $id, $comment). Anything else (pattern, format, minimum,
//   oneOf, allOf, not, tuple items, ...) is an ErrorCode::invalid_argument
//   whose message starts with the schema path of the offending keyword
//   ("response_format.json_schema.schema.properties.age.minimum: ...").
// - Sound, not complete: every document the matcher lets through matches
//   the schema; some valid documents are never produced. Objects with
//   `properties` get only declared properties (each at most once, any
//   order, required ones before '}'); numbers have at most 15 integer
//   digits, 15 fraction digits and 2 exponent digits (so every number is
//   a finite double); strings are well-formed UTF-8 and \u escapes of
//   surrogates are refused; at most 8 whitespace bytes in a row between
//   tokens and none after the document.
// - A grammar may carry literal text before and after the JSON value (a
//   tool-call wrapper such as "<tool_call>\n" ... "\n</tool_call>").
// - Bounded: schema depth 32, 4096 nodes, 64 properties per object, 1024
//   enum values; a Matcher follows at most 32 anyOf alternatives at once
//   (further ones are dropped, which keeps it sound).
// Grammars are immutable and shared across threads; a Matcher is one
// sequence's state and is not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "common/error.hpp"

namespace troupe::engine {

class JsonGrammar {
 public:
  enum class Kind : uint8_t { object, array, string, number, integer, literals, any_of };
  struct Node {
    Kind kind = Kind::any_of;
    // object
    std::vector<std::string> prop_names;  // sorted; declared-only when not empty
    std::vector<int32_t> prop_nodes;      // parallel to prop_names
    uint64_t required = 0;                // bit i: prop_names[i] is required
    bool closed = false;                  // additionalProperties: false and no properties => only {}
    int32_t value_node = 0;               // generic objects: every value; arrays: items
    // array / string bounds
    int64_t min_count = 0;
    int64_t max_count = -1;  // -1: unbounded
    // literals: canonical JSON texts, sorted
    std::vector<std::string> literals;
    // any_of
    std::vector<int32_t> alts;
  };

  // Any JSON object (values of any type).
  static std::shared_ptr<const JsonGrammar> any_object();
  // A JSON Schema (the parsed document `schema`); `path` prefixes errors.
  static Result<std::shared_ptr<const JsonGrammar>> from_schema(simdjson::dom::element schema, const std::string& path,
                                                                std::string prefix = {}, std::string suffix = {});
  // The same from schema text.
  static Result<std::shared_ptr<const JsonGrammar>> from_schema_text(std::string_view schema_json,
                                                                     const std::string& path, std::string prefix = {},
                                                                     std::string suffix = {});

  const std::vector<Node>& nodes() const { return nodes_; }
  int32_t root() const { return root_; }
  const std::string& prefix() const { return prefix_; }
  const std::string& suffix() const { return suffix_; }

 private:
  friend class SchemaCompiler;
  JsonGrammar();
  std::vector<Node> nodes_;
  int32_t root_ = 0;
  std::string prefix_, suffix_;
};

// One sequence's position in a grammar.
class JsonMatcher {
 public:
  explicit JsonMatcher(std::shared_ptr<const JsonGrammar> grammar);

  // Feeds bytes; false (and the state unchanged) when they cannot continue
  // a document of the grammar.
  bool feed(std::string_view bytes);
  // One byte, in place; false leaves the matcher dead (copy before when
  // probing). Used by the token trie walk.
  bool feed_byte(uint8_t c);
  // The text so far is a whole document (end of text may come now).
  bool can_end() const;
  // The document is complete and nothing more may follow.
  bool finished() const;
  bool dead() const { return paths_.empty(); }

  struct Frame {
    uint8_t type = 0;
    uint8_t sub = 0;
    uint8_t pending = 0;  // strings: UTF-8 continuation bytes still due
    uint8_t next_lo = 0x80, next_hi = 0xBF;  // strings: the range of the next continuation byte
    int32_t node = 0;
    int32_t lo = 0, hi = 0, pos = 0;  // literal / key ranges
    int64_t count = 0;
    uint64_t seen = 0;
  };
  struct Path {
    std::vector<Frame> stack;
    uint8_t phase = 0;  // prefix, json, suffix, done
    uint16_t ws = 0;    // whitespace bytes in a row
    int32_t pos = 0;    // prefix/suffix position
  };
  // The position alone, for walks that branch over many continuations (the
  // token trie): copied without touching the grammar's reference count and
  // stepped by step_state() of a matcher of the same grammar.
  using State = std::vector<Path>;
  const State& state() const { return paths_; }
  bool step_state(State& state, uint8_t c) const;

 private:
  bool step(Path& p, uint8_t c, std::vector<Path>& forks) const;
  void value_done(Path& p) const;
  bool path_can_end(const Path& p) const;

  std::shared_ptr<const JsonGrammar> g_;
  std::vector<Path> paths_;
  mutable std::vector<Path> forks_;  // scratch of step_state()
};

}  // namespace troupe::engine
