// The JSON grammar's schema compiler (JsonGrammar in json_grammar.hpp): a JSON
// Schema subset compiled into grammar nodes, with errors naming the schema
// path. The matcher that walks a compiled grammar is json_matcher.cpp.
#include "engine/json_grammar.hpp"

#include <algorithm>
#include <bit>
#include <map>
#include <set>

#include "common/json_writer.hpp"
#include "engine/json_grammar_detail.hpp"
#include "engine/json_read.hpp"

namespace troupe::engine {

using namespace json_grammar_detail;

namespace {

Error bad(const std::string& path, const std::string& what) {
  return Error{ErrorCode::invalid_argument, path + ": " + what};
}

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

}  // namespace troupe::engine
