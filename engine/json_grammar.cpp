#include "engine/json_grammar.hpp"

#include <algorithm>
#include <bit>
#include <map>
#include <set>

#include "common/json_writer.hpp"
#include "engine/json_read.hpp"

namespace troupe::engine {

namespace {

constexpr int kMaxDepth = 32;
constexpr size_t kMaxNodes = 4096;
constexpr size_t kMaxProps = 64;
constexpr size_t kMaxLiterals = 1024;
constexpr size_t kMaxPaths = 32;
constexpr int kMaxWhitespace = 8;
constexpr int kMaxIntDigits = 15, kMaxFracDigits = 15, kMaxExpDigits = 2;

// Built-in nodes shared by every grammar.
constexpr int32_t kAny = 0, kAnyObject = 1, kAnyArray = 2, kAnyString = 3, kAnyNumber = 4, kBool = 5, kNull = 6;

using K = JsonGrammar::Kind;

Error bad(const std::string& path, const std::string& what) {
  return Error{ErrorCode::invalid_argument, path + ": " + what};
}

bool is_ws(uint8_t c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

}  // namespace

JsonGrammar::JsonGrammar() {
  nodes_.resize(7);
  nodes_[kAny].kind = K::any_of;
  nodes_[kAny].alts = {kAnyObject, kAnyArray, kAnyString, kAnyNumber, kBool, kNull};
  nodes_[kAnyObject].kind = K::object;
  nodes_[kAnyObject].value_node = kAny;
  nodes_[kAnyArray].kind = K::array;
  nodes_[kAnyArray].value_node = kAny;
  nodes_[kAnyString].kind = K::string;
  nodes_[kAnyNumber].kind = K::number;
  nodes_[kBool].kind = K::literals;
  nodes_[kBool].literals = {"false", "true"};
  nodes_[kNull].kind = K::literals;
  nodes_[kNull].literals = {"null"};
}

std::shared_ptr<const JsonGrammar> JsonGrammar::any_object() {
  static const std::shared_ptr<const JsonGrammar> g = [] {
    auto p = std::shared_ptr<JsonGrammar>(new JsonGrammar());
    p->root_ = kAnyObject;
    return p;
  }();
  return g;
}

class SchemaCompiler {
 public:
  SchemaCompiler(JsonGrammar& g, simdjson::dom::element root, std::string root_path)
      : g_(g), root_(root), root_path_(std::move(root_path)) {}

  Result<int32_t> compile(simdjson::dom::element e, const std::string& path, int depth) {
    if (depth > kMaxDepth) return bad(path, "schema nested deeper than " + std::to_string(kMaxDepth) + " levels");
    bool b;
    if (e.get_bool().get(b) == simdjson::SUCCESS) {
      if (b) return kAny;
      return bad(path, "the schema `false` accepts nothing");
    }
    simdjson::dom::object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) return bad(path, "expected a schema object");

    static const std::set<std::string_view> annotations = {"title", "description", "default", "examples", "$schema",
                                                           "$id", "$comment", "$defs", "definitions", "strict",
                                                           "deprecated", "readOnly", "writeOnly"};
    static const std::set<std::string_view> keywords = {"type", "properties", "required", "additionalProperties",
                                                        "items", "enum", "const", "anyOf", "minItems", "maxItems",
                                                        "minLength", "maxLength", "$ref", "minimum", "maximum",
                                                        "exclusiveMinimum", "exclusiveMaximum"};
    for (auto f : o) {
      if (annotations.count(f.key) || keywords.count(f.key)) continue;
      return bad(json::join(path, f.key), "the JSON Schema keyword '" + std::string(f.key) +
                                              "' is not supported by constrained decoding (supported: type, "
                                              "properties, required, additionalProperties, items, enum, const, "
                                              "anyOf, minItems, maxItems, minLength, maxLength, local $ref)");
    }
    if (auto st = check_bounds(o, path); !st.ok()) return st.error();
    if (auto ref = json::field(o, "$ref")) return compile_ref(*ref, json::join(path, "$ref"), depth);
    simdjson::dom::element cval;
    if (o["const"].get(cval) == simdjson::SUCCESS) {
      std::vector<std::string> lits;
      auto st = literal_text(cval, json::join(path, "const"), lits);
      if (!st.ok()) return st.error();
      return add_literals(std::move(lits), path);
    }
    if (auto en = json::field(o, "enum")) {
      simdjson::dom::array arr;
      if (en->get_array().get(arr) != simdjson::SUCCESS) return bad(json::join(path, "enum"), "expected an array");
      std::vector<std::string> lits;
      size_t i = 0;
      for (auto v : arr) {
        auto st = literal_text(v, json::join(json::join(path, "enum"), i++), lits);
        if (!st.ok()) return st.error();
      }
      if (lits.empty()) return bad(json::join(path, "enum"), "an empty enum accepts nothing");
      if (lits.size() > kMaxLiterals)
        return bad(json::join(path, "enum"), "more than " + std::to_string(kMaxLiterals) + " values");
      return add_literals(std::move(lits), path);
    }
    if (auto any = json::field(o, "anyOf")) {
      simdjson::dom::array arr;
      if (any->get_array().get(arr) != simdjson::SUCCESS) return bad(json::join(path, "anyOf"), "expected an array");
      if (arr.size() == 0) return bad(json::join(path, "anyOf"), "an empty anyOf accepts nothing");
      if (json::field(o, "type") || json::field(o, "properties") || json::field(o, "items"))
        return bad(json::join(path, "anyOf"), "anyOf together with type, properties or items is not supported; "
                                               "put them inside each alternative");
      std::vector<int32_t> alts;
      size_t i = 0;
      for (auto v : arr) {
        auto n = compile(v, json::join(json::join(path, "anyOf"), i++), depth + 1);
        if (!n.ok()) return n.error();
        alts.push_back(*n);
      }
      return add_any_of(std::move(alts), path);
    }
    auto t = json::field(o, "type");
    if (!t) {
      if (json::field(o, "properties") || json::field(o, "required") || json::field(o, "additionalProperties"))
        return compile_typed(o, "object", path, depth);
      if (json::field(o, "items")) return compile_typed(o, "array", path, depth);
      return kAny;
    }
    std::string_view ts;
    if (t->get_string().get(ts) == simdjson::SUCCESS) return compile_typed(o, ts, path, depth);
    simdjson::dom::array types;
    if (t->get_array().get(types) != simdjson::SUCCESS)
      return bad(json::join(path, "type"), "expected a string or an array of strings");
    std::vector<int32_t> alts;
    size_t i = 0;
    for (auto v : types) {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS)
        return bad(json::join(json::join(path, "type"), i), "expected a string");
      ++i;
      auto n = compile_typed(o, s, path, depth);
      if (!n.ok()) return n.error();
      alts.push_back(*n);
    }
    if (alts.empty()) return bad(json::join(path, "type"), "an empty type list accepts nothing");
    return add_any_of(std::move(alts), path);
  }

 private:
  Result<int32_t> new_node(JsonGrammar::Node n, const std::string& path) {
    if (g_.nodes_.size() >= kMaxNodes)
      return bad(path, "the schema compiles to more than " + std::to_string(kMaxNodes) + " nodes");
    g_.nodes_.push_back(std::move(n));
    return static_cast<int32_t>(g_.nodes_.size() - 1);
  }

  // Numeric bounds are accepted only where they exclude nothing this
  // grammar writes: on a plain "type":"integer" (at most 15 digits), bounds
  // at or beyond +-10^15 (zod writes +-(2^53-1) for .int()).
  Status check_bounds(simdjson::dom::object o, const std::string& path) {
    for (std::string_view key : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
      auto v = json::field(o, key);
      if (!v) continue;
      std::string_view type;
      auto t = json::field(o, "type");
      const bool integer = t && t->get_string().get(type) == simdjson::SUCCESS && type == "integer" &&
                           !json::field(o, "enum") && o["const"].error() != simdjson::SUCCESS;
      double d = 0;
      const bool number = v->is_number() && v->get_double().get(d) == simdjson::SUCCESS;
      const bool low = key == "minimum" || key == "exclusiveMinimum";
      if (!integer || !number || (low ? d > -1e15 : d < 1e15))
        return bad(json::join(path, key), "numeric bounds are not enforced by constrained decoding; only bounds "
                                          "at or beyond +-10^15 on a plain \"type\": \"integer\" are accepted");
    }
    return {};
  }

  Result<int32_t> add_literals(std::vector<std::string> lits, const std::string& path) {
    std::sort(lits.begin(), lits.end());
    lits.erase(std::unique(lits.begin(), lits.end()), lits.end());
    JsonGrammar::Node n;
    n.kind = K::literals;
    n.literals = std::move(lits);
    return new_node(std::move(n), path);
  }

  Result<int32_t> add_any_of(std::vector<int32_t> alts, const std::string& path) {
    if (alts.size() == 1) return alts[0];
    JsonGrammar::Node n;
    n.kind = K::any_of;
    n.alts = std::move(alts);
    return new_node(std::move(n), path);
  }

  // The canonical JSON text of an enum/const value (scalars only).
  Status literal_text(simdjson::dom::element v, const std::string& path, std::vector<std::string>& out) {
    std::string text;
    JsonWriter w(text);
    switch (v.type()) {
      case simdjson::dom::element_type::STRING: {
        std::string_view s;
        if (v.get_string().get(s) != simdjson::SUCCESS) return bad(path, "expected a string");
        w.value(s);
        break;
      }
      case simdjson::dom::element_type::INT64: w.value(static_cast<long long>(int64_t(v))); break;
      case simdjson::dom::element_type::UINT64: w.value(static_cast<unsigned long long>(uint64_t(v))); break;
      case simdjson::dom::element_type::DOUBLE: {
        double d = double(v);
        if (d == static_cast<double>(static_cast<long long>(d)) && std::abs(d) < 1e15) {
          w.value(static_cast<long long>(d));
        } else {
          w.value(d);
        }
        break;
      }
      case simdjson::dom::element_type::BOOL: w.value(bool(v)); break;
      case simdjson::dom::element_type::NULL_VALUE: w.null(); break;
      default: return bad(path, "only strings, numbers, booleans and null are supported as enum/const values");
    }
    out.push_back(std::move(text));
    return {};
  }

  Result<int32_t> compile_ref(simdjson::dom::element ref, const std::string& path, int depth) {
    std::string_view s;
    if (ref.get_string().get(s) != simdjson::SUCCESS) return bad(path, "expected a string");
    std::string_view section;
    if (s.rfind("#/$defs/", 0) == 0) {
      section = "$defs";
    } else if (s.rfind("#/definitions/", 0) == 0) {
      section = "definitions";
    } else if (s == "#") {
      section = "";
    } else {
      return bad(path, "only local references (#, #/$defs/NAME, #/definitions/NAME) are supported, got '" +
                           std::string(s) + "'");
    }
    std::string key(s);
    if (auto it = refs_.find(key); it != refs_.end()) return it->second;
    simdjson::dom::element target = root_;
    std::string target_path = root_path_;
    if (!section.empty()) {
      std::string_view name = s.substr(section.size() + 3);
      simdjson::dom::object ro;
      if (root_.get_object().get(ro) != simdjson::SUCCESS) return bad(path, "unresolved reference '" + key + "'");
      auto defs = json::field(ro, section);
      simdjson::dom::object dobj;
      if (!defs || defs->get_object().get(dobj) != simdjson::SUCCESS)
        return bad(path, "unresolved reference '" + key + "'");
      auto def = json::field(dobj, name);
      if (!def) return bad(path, "unresolved reference '" + key + "'");
      target = *def;
      target_path = json::join(json::join(root_path_, section), name);
    }
    // Reserve the node first so a recursive reference finds it.
    JsonGrammar::Node placeholder;
    auto slot = new_node(placeholder, path);
    if (!slot.ok()) return slot.error();
    refs_[key] = *slot;
    auto compiled = compile(target, target_path, depth + 1);
    if (!compiled.ok()) return compiled.error();
    // The slot forwards to the compiled node (an anyOf of one alternative).
    g_.nodes_[static_cast<size_t>(*slot)].kind = K::any_of;
    g_.nodes_[static_cast<size_t>(*slot)].alts = {*compiled};
    return *slot;
  }

  Result<int64_t> count_field(simdjson::dom::object o, std::string_view key, const std::string& path, int64_t dflt) {
    auto v = json::field(o, key);
    if (!v) return dflt;
    auto i = json::as_int(*v, json::join(path, key));
    if (!i.ok()) return bad(json::join(path, key), "expected a non-negative integer");
    if (*i < 0 || *i > (int64_t{1} << 30)) return bad(json::join(path, key), "out of range");
    return *i;
  }

  Result<int32_t> compile_typed(simdjson::dom::object o, std::string_view type, const std::string& path, int depth) {
    JsonGrammar::Node n;
    if (type == "string") {
      n.kind = K::string;
      auto lo = count_field(o, "minLength", path, 0);
      if (!lo.ok()) return lo.error();
      auto hi = count_field(o, "maxLength", path, -1);
      if (!hi.ok()) return hi.error();
      if (*lo == 0 && *hi < 0) return kAnyString;
      n.min_count = *lo;
      n.max_count = *hi;
      if (n.max_count >= 0 && n.min_count > n.max_count)
        return bad(json::join(path, "minLength"), "minLength is above maxLength");
      return new_node(std::move(n), path);
    }
    if (type == "number") return kAnyNumber;
    if (type == "integer") {
      n.kind = K::integer;
      return new_node(std::move(n), path);
    }
    if (type == "boolean") return kBool;
    if (type == "null") return kNull;
    if (type == "array") {
      n.kind = K::array;
      n.value_node = kAny;
      if (auto items = json::field(o, "items")) {
        if (items->is_array()) return bad(json::join(path, "items"), "tuple items (an array) are not supported");
        auto c = compile(*items, json::join(path, "items"), depth + 1);
        if (!c.ok()) return c.error();
        n.value_node = *c;
      }
      auto lo = count_field(o, "minItems", path, 0);
      if (!lo.ok()) return lo.error();
      auto hi = count_field(o, "maxItems", path, -1);
      if (!hi.ok()) return hi.error();
      n.min_count = *lo;
      n.max_count = *hi;
      if (n.max_count >= 0 && n.min_count > n.max_count)
        return bad(json::join(path, "minItems"), "minItems is above maxItems");
      return new_node(std::move(n), path);
    }
    if (type == "object") {
      n.kind = K::object;
      n.value_node = kAny;
      std::map<std::string, int32_t> props;
      if (auto p = json::field(o, "properties")) {
        simdjson::dom::object po;
        if (p->get_object().get(po) != simdjson::SUCCESS) return bad(json::join(path, "properties"), "expected an object");
        for (auto f : po) {
          std::string ppath = json::join(json::join(path, "properties"), f.key);
          for (char ch : f.key) {
            if (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20)
              return bad(ppath, "property names with quotes, backslashes or control characters are not supported");
          }
          auto c = compile(f.value, ppath, depth + 1);
          if (!c.ok()) return c.error();
          props[std::string(f.key)] = *c;
        }
        if (props.size() > kMaxProps)
          return bad(json::join(path, "properties"), "more than " + std::to_string(kMaxProps) + " properties");
      }
      for (auto& [name, node] : props) {
        n.prop_names.push_back(name);
        n.prop_nodes.push_back(node);
      }
      if (auto r = json::field(o, "required")) {
        simdjson::dom::array ra;
        if (r->get_array().get(ra) != simdjson::SUCCESS) return bad(json::join(path, "required"), "expected an array");
        size_t i = 0;
        for (auto v : ra) {
          std::string rpath = json::join(json::join(path, "required"), i++);
          std::string_view s;
          if (v.get_string().get(s) != simdjson::SUCCESS) return bad(rpath, "expected a string");
          auto it = std::lower_bound(n.prop_names.begin(), n.prop_names.end(), s);
          if (it == n.prop_names.end() || *it != s)
            return bad(rpath, "required property '" + std::string(s) + "' is not in properties");
          n.required |= uint64_t{1} << (it - n.prop_names.begin());
        }
      }
      if (auto a = json::field(o, "additionalProperties")) {
        bool allowed;
        if (a->get_bool().get(allowed) == simdjson::SUCCESS) {
          if (!allowed && n.prop_names.empty()) n.closed = true;
        } else if (n.prop_names.empty()) {
          auto c = compile(*a, json::join(path, "additionalProperties"), depth + 1);
          if (!c.ok()) return c.error();
          n.value_node = *c;
        }
        // With properties, only declared properties are generated, which is
        // valid whatever additionalProperties says.
      }
      return new_node(std::move(n), path);
    }
    return bad(json::join(path, "type"), "unknown type '" + std::string(type) +
                                             "' (object, array, string, number, integer, boolean, null)");
  }

  JsonGrammar& g_;
  simdjson::dom::element root_;
  std::string root_path_;
  std::map<std::string, int32_t> refs_;
};

Result<std::shared_ptr<const JsonGrammar>> JsonGrammar::from_schema(simdjson::dom::element schema,
                                                                    const std::string& path, std::string prefix,
                                                                    std::string suffix) {
  auto g = std::shared_ptr<JsonGrammar>(new JsonGrammar());
  SchemaCompiler c(*g, schema, path);
  auto root = c.compile(schema, path, 0);
  if (!root.ok()) return root.error();
  g->root_ = *root;
  g->prefix_ = std::move(prefix);
  g->suffix_ = std::move(suffix);
  return std::shared_ptr<const JsonGrammar>(std::move(g));
}

Result<std::shared_ptr<const JsonGrammar>> JsonGrammar::from_schema_text(std::string_view schema_json,
                                                                         const std::string& path, std::string prefix,
                                                                         std::string suffix) {
  simdjson::dom::parser parser;
  auto doc = json::parse(parser, schema_json, path);
  if (!doc.ok()) {
    Error e = doc.error();
    e.code = ErrorCode::invalid_argument;
    return e;
  }
  return from_schema(*doc, path, std::move(prefix), std::move(suffix));
}

// ---- matcher ----------------------------------------------------------------

namespace {

enum FrameType : uint8_t { F_VALUE, F_OBJ, F_ARR, F_STR, F_KEY, F_NUM, F_LIT };
enum Phase : uint8_t { P_PREFIX, P_JSON, P_SUFFIX, P_DONE };
// Object states.
enum : uint8_t { O_FIRST, O_KEY, O_COLON, O_VALUE, O_AFTER };
// Array states.
enum : uint8_t { A_FIRST, A_VALUE, A_AFTER };
// String states.
enum : uint8_t { S_CHARS, S_ESC, S_U1, S_U2, S_U3, S_U4 };
// Number states.
enum : uint8_t { N_SIGN, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool number_complete(uint8_t sub) { return sub == N_ZERO || sub == N_INT || sub == N_FRAC || sub == N_EXP; }

}  // namespace

JsonMatcher::JsonMatcher(std::shared_ptr<const JsonGrammar> grammar) : g_(std::move(grammar)) {
  Path p;
  p.phase = P_PREFIX;
  if (g_->prefix().empty()) {
    p.phase = P_JSON;
    Frame f;
    f.type = F_VALUE;
    f.node = g_->root();
    p.stack.push_back(f);
  }
  paths_.push_back(std::move(p));
}

void JsonMatcher::value_done(Path& p) const {
  if (!p.stack.empty()) return;
  p.pos = 0;
  p.phase = g_->suffix().empty() ? P_DONE : P_SUFFIX;
}

bool JsonMatcher::step(Path& p, uint8_t c, std::vector<Path>& forks) const {
  const auto& nodes = g_->nodes();
  for (;;) {
    if (p.phase == P_PREFIX) {
      const std::string& s = g_->prefix();
      if (static_cast<uint8_t>(s[static_cast<size_t>(p.pos)]) != c) return false;
      if (static_cast<size_t>(++p.pos) == s.size()) {
        p.phase = P_JSON;
        Frame f;
        f.type = F_VALUE;
        f.node = g_->root();
        p.stack.push_back(f);
      }
      return true;
    }
    if (p.phase == P_SUFFIX) {
      const std::string& s = g_->suffix();
      if (static_cast<uint8_t>(s[static_cast<size_t>(p.pos)]) != c) return false;
      if (static_cast<size_t>(++p.pos) == s.size()) p.phase = P_DONE;
      return true;
    }
    if (p.phase == P_DONE) return false;
    Frame& f = p.stack.back();
    const JsonGrammar::Node& n = nodes[static_cast<size_t>(f.node)];
    auto take_ws = [&]() {
      if (p.ws >= kMaxWhitespace) return false;
      ++p.ws;
      return true;
    };
    if (f.type != F_STR && f.type != F_KEY && f.type != F_NUM && f.type != F_LIT) {
      if (is_ws(c)) return take_ws();
      p.ws = 0;
    }
    switch (f.type) {
      case F_VALUE: {
        if (n.kind == K::any_of) {
          // Each alternative is its own path; the first continues in place.
          for (size_t i = 1; i < n.alts.size(); ++i) {
            if (forks.size() >= kMaxPaths) break;
            Path q = p;
            q.stack.back().node = n.alts[i];
            if (step(q, c, forks)) forks.push_back(std::move(q));
          }
          f.node = n.alts[0];
          continue;
        }
        switch (n.kind) {
          case K::object:
            if (c != '{') return false;
            f.type = F_OBJ;
            f.sub = O_FIRST;
            f.seen = 0;
            f.count = 0;
            return true;
          case K::array:
            if (c != '[') return false;
            f.type = F_ARR;
            f.sub = A_FIRST;
            f.count = 0;
            return true;
          case K::string:
            if (c != '"') return false;
            f.type = F_STR;
            f.sub = S_CHARS;
            f.count = 0;
            f.pending = 0;
            return true;
          case K::number:
          case K::integer:
            if (c == '-') {
              f.type = F_NUM;
              f.sub = N_SIGN;
              f.count = 0;
              return true;
            }
            if (!is_digit(c)) return false;
            f.type = F_NUM;
            f.sub = c == '0' ? N_ZERO : N_INT;
            f.count = 1;
            return true;
          case K::literals: {
            int32_t lo = -1, hi = -1;
            for (size_t i = 0; i < n.literals.size(); ++i) {
              if (static_cast<uint8_t>(n.literals[i][0]) == c) {
                if (lo < 0) lo = static_cast<int32_t>(i);
                hi = static_cast<int32_t>(i) + 1;
              }
            }
            if (lo < 0) return false;
            f.type = F_LIT;
            f.lo = lo;
            f.hi = hi;
            f.pos = 1;
            if (hi - lo == 1 && n.literals[static_cast<size_t>(lo)].size() == 1) {
              // A one-byte literal alone in range is complete at once, unless
              // it could go on as a number; literals never do.
              p.stack.pop_back();
              value_done(p);
            }
            return true;
          }
          case K::any_of: return false;
        }
        return false;
      }
      case F_OBJ: {
        switch (f.sub) {
          case O_FIRST:
          case O_AFTER:
            if (c == '}') {
              if ((f.seen & n.required) != n.required) return false;
              p.stack.pop_back();
              value_done(p);
              return true;
            }
            if (f.sub == O_AFTER) {
              if (c != ',') return false;
              if (!n.prop_names.empty() && std::popcount(f.seen) >= static_cast<int>(n.prop_names.size())) return false;
              f.sub = O_KEY;
              return true;
            }
            if (n.closed) return false;
            [[fallthrough]];
          case O_KEY: {
            if (c != '"') return false;
            Frame k;
            k.type = F_KEY;
            k.node = f.node;
            k.pos = 0;
            k.lo = 0;
            k.hi = static_cast<int32_t>(n.prop_names.size());
            if (n.prop_names.empty()) k.lo = k.hi = -1;  // any key
            f.sub = O_COLON;
            p.stack.push_back(k);
            return true;
          }
          case O_COLON: {
            if (c != ':') return false;
            f.sub = O_AFTER;
            Frame v;
            v.type = F_VALUE;
            v.node = n.prop_names.empty() ? n.value_node : n.prop_nodes[static_cast<size_t>(f.pos)];
            p.stack.push_back(v);
            return true;
          }
        }
        return false;
      }
      case F_ARR: {
        if (c == ']' && f.sub != A_VALUE) {
          if (f.count < n.min_count) return false;
          p.stack.pop_back();
          value_done(p);
          return true;
        }
        if (f.sub == A_AFTER) {
          if (c != ',') return false;
          if (n.max_count >= 0 && f.count >= n.max_count) return false;
          f.sub = A_VALUE;
          return true;
        }
        if (n.max_count >= 0 && f.count >= n.max_count) return false;
        f.sub = A_AFTER;
        f.count += 1;
        Frame v;
        v.type = F_VALUE;
        v.node = n.value_node;
        p.stack.push_back(v);
        continue;  // the value starts with this byte
      }
      case F_KEY: {
        if (f.lo < 0) {
          // Any key: a plain string; on close the object expects ':'.
          f.type = F_STR;
          f.node = kAnyString;
          f.sub = S_CHARS;
          f.count = 0;
          f.pending = 0;
          f.seen = 1;  // marks a key string
          continue;
        }
        if (c == '"') {
          const std::string& name = n.prop_names[static_cast<size_t>(f.lo)];
          if (static_cast<int32_t>(name.size()) != f.pos) return false;
          Frame& obj = p.stack[p.stack.size() - 2];
          if (obj.seen & (uint64_t{1} << f.lo)) return false;
          obj.seen |= uint64_t{1} << f.lo;
          obj.pos = f.lo;
          p.stack.pop_back();
          return true;
        }
        if (c < 0x20 || c == '\\') return false;
        const Frame& obj = p.stack[p.stack.size() - 2];
        int32_t lo = -1, hi = -1;
        bool unseen = false;
        for (int32_t i = f.lo; i < f.hi; ++i) {
          const std::string& name = n.prop_names[static_cast<size_t>(i)];
          if (static_cast<int32_t>(name.size()) > f.pos && static_cast<uint8_t>(name[static_cast<size_t>(f.pos)]) == c) {
            if (lo < 0) lo = i;
            hi = i + 1;
            if (!(obj.seen & (uint64_t{1} << i))) unseen = true;
          }
        }
        if (lo < 0 || !unseen) return false;
        f.lo = lo;
        f.hi = hi;
        f.pos += 1;
        return true;
      }
      case F_STR: {
        switch (f.sub) {
          case S_CHARS:
            if (f.pending > 0) {
              if (c < f.next_lo || c > f.next_hi) return false;
              --f.pending;
              f.next_lo = 0x80;
              f.next_hi = 0xBF;
              return true;
            }
            if (c == '"') {
              if (f.count < n.min_count) return false;
              const bool key = f.seen == 1;
              p.stack.pop_back();
              if (!key) value_done(p);
              return true;
            }
            if (c < 0x20 || c == 0x7F) return false;
            if (n.max_count >= 0 && f.count >= n.max_count) return false;
            if (c == '\\') {
              f.sub = S_ESC;
              return true;
            }
            if (c >= 0x80) {
              // Well-formed UTF-8 only (no overlongs, surrogates or code
              // points past U+10FFFF): the second byte's range depends on
              // the first.
              f.next_lo = 0x80;
              f.next_hi = 0xBF;
              if (c >= 0xC2 && c <= 0xDF) {
                f.pending = 1;
              } else if (c >= 0xE0 && c <= 0xEF) {
                f.pending = 2;
                if (c == 0xE0) f.next_lo = 0xA0;
                if (c == 0xED) f.next_hi = 0x9F;
              } else if (c >= 0xF0 && c <= 0xF4) {
                f.pending = 3;
                if (c == 0xF0) f.next_lo = 0x90;
                if (c == 0xF4) f.next_hi = 0x8F;
              } else {
                return false;
              }
            }
            f.count += 1;
            return true;
          case S_ESC:
            if (c == 'u') {
              f.sub = S_U1;
              return true;
            }
            if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' && c != 't')
              return false;
            f.sub = S_CHARS;
            f.count += 1;
            return true;
          case S_U1:
            if (!is_hex(c)) return false;
            f.lo = (c == 'd' || c == 'D') ? 1 : 0;
            f.sub = S_U2;
            return true;
          case S_U2:
            if (!is_hex(c)) return false;
            if (f.lo == 1 && !(is_digit(c) && c < '8')) return false;  // no surrogates
            f.sub = S_U3;
            return true;
          case S_U3:
            if (!is_hex(c)) return false;
            f.sub = S_U4;
            return true;
          case S_U4:
            if (!is_hex(c)) return false;
            f.sub = S_CHARS;
            f.count += 1;
            return true;
        }
        return false;
      }
      case F_NUM: {
        const bool integer = n.kind == K::integer;
        auto next = [&](uint8_t sub, int64_t count) {
          f.sub = sub;
          f.count = count;
          return true;
        };
        switch (f.sub) {
          case N_SIGN:
            if (is_digit(c)) return next(c == '0' ? N_ZERO : N_INT, 1);
            return false;
          case N_INT:
            if (is_digit(c)) {
              if (f.count >= kMaxIntDigits) return false;
              return next(N_INT, f.count + 1);
            }
            [[fallthrough]];
          case N_ZERO:
            if (!integer && c == '.') return next(N_DOT, 0);
            if (!integer && (c == 'e' || c == 'E')) return next(N_E, 0);
            break;
          case N_DOT:
            if (is_digit(c)) return next(N_FRAC, 1);
            return false;
          case N_FRAC:
            if (is_digit(c)) {
              if (f.count >= kMaxFracDigits) return false;
              return next(N_FRAC, f.count + 1);
            }
            if (c == 'e' || c == 'E') return next(N_E, 0);
            break;
          case N_E:
            if (c == '+' || c == '-') return next(N_ESIGN, 0);
            [[fallthrough]];
          case N_ESIGN:
            if (is_digit(c)) return next(N_EXP, 1);
            return false;
          case N_EXP:
            if (is_digit(c)) {
              if (f.count >= kMaxExpDigits) return false;
              return next(N_EXP, f.count + 1);
            }
            break;
        }
        if (!number_complete(f.sub)) return false;
        // The number ended; the byte belongs to what follows it.
        p.stack.pop_back();
        value_done(p);
        continue;
      }
      case F_LIT: {
        int32_t lo = -1, hi = -1;
        for (int32_t i = f.lo; i < f.hi; ++i) {
          const std::string& s = n.literals[static_cast<size_t>(i)];
          if (static_cast<int32_t>(s.size()) > f.pos && static_cast<uint8_t>(s[static_cast<size_t>(f.pos)]) == c) {
            if (lo < 0) lo = i;
            hi = i + 1;
          }
        }
        if (lo < 0) {
          // A complete literal (numbers: "1" before "12") ends here.
          if (static_cast<int32_t>(n.literals[static_cast<size_t>(f.lo)].size()) != f.pos) return false;
          p.stack.pop_back();
          value_done(p);
          continue;
        }
        f.lo = lo;
        f.hi = hi;
        f.pos += 1;
        if (hi - lo == 1 && static_cast<int32_t>(n.literals[static_cast<size_t>(lo)].size()) == f.pos) {
          p.stack.pop_back();
          value_done(p);
        }
        return true;
      }
    }
    return false;
  }
}

bool JsonMatcher::step_state(State& paths, uint8_t c) const {
  forks_.clear();
  size_t w = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (step(paths[i], c, forks_)) {
      if (w != i) std::swap(paths[w], paths[i]);
      ++w;
    }
  }
  paths.resize(w);
  for (auto& f : forks_) {
    if (paths.size() >= kMaxPaths) break;
    paths.push_back(std::move(f));
  }
  return !paths.empty();
}

bool JsonMatcher::feed_byte(uint8_t c) { return step_state(paths_, c); }

bool JsonMatcher::feed(std::string_view bytes) {
  std::vector<Path> saved = paths_;
  for (char ch : bytes) {
    if (!feed_byte(static_cast<uint8_t>(ch))) {
      paths_ = std::move(saved);
      return false;
    }
  }
  return true;
}

bool JsonMatcher::path_can_end(const Path& p) const {
  if (p.phase == P_DONE) return true;
  if (p.phase != P_JSON || !g_->suffix().empty() || p.stack.size() != 1) return false;
  const Frame& f = p.stack.back();
  if (f.type == F_NUM) return number_complete(f.sub);
  if (f.type == F_LIT) {
    const auto& n = g_->nodes()[static_cast<size_t>(f.node)];
    return static_cast<int32_t>(n.literals[static_cast<size_t>(f.lo)].size()) == f.pos;
  }
  return false;
}

bool JsonMatcher::can_end() const {
  return std::any_of(paths_.begin(), paths_.end(), [&](const Path& p) { return path_can_end(p); });
}

bool JsonMatcher::finished() const {
  return !paths_.empty() &&
         std::all_of(paths_.begin(), paths_.end(), [](const Path& p) { return p.phase == P_DONE; });
}

}  // namespace troupe::engine
