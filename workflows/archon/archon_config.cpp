// Archon's JSON config (pipelines.md §4(b)-(c)): reading with errors that
// name the layer, component and key; writing in the same shape.
#include <simdjson.h>

#include <algorithm>
#include <cmath>

#include "common/json_writer.hpp"
#include "workflows/archon/archon.hpp"

namespace troupe::workflows {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

struct Bad {
  std::string message;
};

std::string describe(element e) {
  switch (e.type()) {
    case element_type::ARRAY: return "a list";
    case element_type::OBJECT: return "an object";
    case element_type::STRING: return "\"" + std::string(std::string_view(e.get_string())) + "\"";
    case element_type::BOOL: return bool(e.get_bool()) ? "true" : "false";
    case element_type::NULL_VALUE: return "null";
    default: return simdjson::to_string(e);
  }
}

std::optional<double> number_of(element e) {
  switch (e.type()) {
    case element_type::INT64: return static_cast<double>(int64_t(e.get_int64()));
    case element_type::UINT64: return static_cast<double>(uint64_t(e.get_uint64()));
    case element_type::DOUBLE: return double(e.get_double());
    default: return std::nullopt;
  }
}

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw Bad{source_ + ": " + where + (where.empty() ? "" : ": ") + what};
  }

  ArchonConfig config(element root) const {
    ArchonConfig c;
    element layers = root;
    if (root.type() == element_type::OBJECT) {
      simdjson::dom::object o = root.get_object();
      element name;
      if (!o["name"].get(name)) {
        if (name.type() != element_type::STRING) fail("key 'name'", "expected a string, got " + describe(name));
        c.name = std::string(std::string_view(name.get_string()));
      }
      if (o["layers"].get(layers)) fail("", "missing key 'layers' (a list of layers, each a list of components)");
    }
    if (layers.type() != element_type::ARRAY)
      fail("key 'layers'", "expected a list of layers, got " + describe(layers));
    size_t li = 0;
    for (element layer : layers.get_array()) {
      ++li;
      std::string where = "layer " + std::to_string(li);
      if (layer.type() != element_type::ARRAY)
        fail(where, "expected a list of components, got " + describe(layer));
      std::vector<ArchonComponent> comps;
      size_t ci = 0;
      for (element comp : layer.get_array()) {
        ++ci;
        comps.push_back(component(comp, where + ", component " + std::to_string(ci)));
      }
      if (comps.empty()) fail(where, "a layer needs at least one component");
      c.layers.push_back(std::move(comps));
    }
    if (c.layers.empty()) fail("key 'layers'", "needs at least one layer");
    check_flow(c);
    return c;
  }

 private:
  ArchonComponent component(element e, const std::string& where) const {
    if (e.type() != element_type::OBJECT) fail(where, "expected an object with a 'type', got " + describe(e));
    simdjson::dom::object o = e.get_object();
    ArchonComponent c;
    element v;
    if (o["type"].get(v)) fail(where, "missing key 'type' (one of " + types() + ")");
    c.type = string(v, where, "type");
    const auto& known = archon_component_types();
    if (std::find(known.begin(), known.end(), c.type) == known.end())
      fail(where + ", key 'type'", "unknown component type \"" + c.type + "\"; known: " + types());
    std::string at = where + " (" + c.type + ")";
    // Unknown keys are ignored, as Archon does (ranker_batch_size, ...).
    if (!o["model"].get(v)) c.model = string(v, at, "model");
    if (!o["model_type"].get(v)) c.model_type = string(v, at, "model_type");
    if (!o["temperature"].get(v) && v.type() != element_type::NULL_VALUE) {
      double t = number(v, at, "temperature");
      if (t < 0) fail(at + ", key 'temperature'", "must not be negative, got " + describe(v));
      c.temperature = t;
    }
    if (!o["max_tokens"].get(v)) c.max_tokens = integer(v, at, "max_tokens", 0);
    if (!o["samples"].get(v)) c.samples = integer(v, at, "samples", 1);
    if (!o["top_k"].get(v)) c.top_k = integer(v, at, "top_k", 0);
    if (!o["first_k"].get(v)) c.first_k = integer(v, at, "first_k", 0);
    if (!o["first_pass"].get(v)) c.first_pass = boolean(v, at, "first_pass");
    if (!o["use_critiques"].get(v)) c.use_critiques = boolean(v, at, "use_critiques");
    if (!o["length_control"].get(v)) c.length_control = boolean(v, at, "length_control");
    if (!o["unit_test_cap"].get(v)) c.unit_test_cap = integer(v, at, "unit_test_cap", 1);
    if (!o["remove_unit_tests_from_prompt"].get(v))
      c.remove_unit_tests_from_prompt = boolean(v, at, "remove_unit_tests_from_prompt");
    if (!o["no_system"].get(v)) c.no_system = boolean(v, at, "no_system");
    return c;
  }

  // What each component reads must exist by then: candidates for all but
  // the generator and the unit-test generator; unit tests for the evaluator.
  void check_flow(const ArchonConfig& c) const {
    bool candidates = false, tests = false;
    for (size_t l = 0; l < c.layers.size(); ++l) {
      bool makes_candidates = false, makes_tests = false;
      for (size_t k = 0; k < c.layers[l].size(); ++k) {
        const auto& comp = c.layers[l][k];
        std::string where = "layer " + std::to_string(l + 1) + ", component " + std::to_string(k + 1) + " (" +
                            comp.type + ")";
        bool reads = comp.type != "generator" && comp.type != "unit_test_generator";
        if (reads && !candidates)
          fail(where, "has no candidates to read: put a generator in an earlier layer");
        if (comp.type == "unit_test_evaluator" && !tests)
          fail(where, "has no unit tests to check: put a unit_test_generator in an earlier layer");
        if (comp.type == "generator" || comp.type == "fuser") makes_candidates = true;
        if (comp.type == "unit_test_generator") makes_tests = true;
      }
      candidates = candidates || makes_candidates;
      tests = tests || makes_tests;
    }
  }

  static std::string types() {
    std::string out;
    for (const auto& t : archon_component_types()) out += (out.empty() ? "" : ", ") + t;
    return out;
  }

  std::string string(element v, const std::string& at, const char* key) const {
    if (v.type() != element_type::STRING) fail(at + ", key '" + key + "'", "expected a string, got " + describe(v));
    return std::string(std::string_view(v.get_string()));
  }

  double number(element v, const std::string& at, const char* key) const {
    auto d = number_of(v);
    if (!d) fail(at + ", key '" + key + "'", "expected a number, got " + describe(v));
    return *d;
  }

  int integer(element v, const std::string& at, const char* key, int min) const {
    auto d = number_of(v);
    if (!d || std::floor(*d) != *d || std::abs(*d) > 1e9)
      fail(at + ", key '" + key + "'", "expected an integer, got " + describe(v));
    if (*d < min) fail(at + ", key '" + key + "'", "must be at least " + std::to_string(min) + ", got " + describe(v));
    return static_cast<int>(*d);
  }

  bool boolean(element v, const std::string& at, const char* key) const {
    if (v.type() != element_type::BOOL) fail(at + ", key '" + key + "'", "expected true or false, got " + describe(v));
    return bool(v.get_bool());
  }

  std::string source_;
};

}  // namespace

const std::vector<std::string>& archon_component_types() {
  static const std::vector<std::string> types = {"generator", "critic", "ranker", "fuser",
                                                 "verifier", "unit_test_generator", "unit_test_evaluator"};
  return types;
}

Result<ArchonConfig> parse_archon_json(std::string_view text, const std::string& source) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  element root;
  if (auto err = parser.parse(padded).get(root))
    return Error{ErrorCode::parse, source + ": not valid JSON (" + std::string(simdjson::error_message(err)) + ")"};
  try {
    return Reader(source).config(root);
  } catch (const Bad& b) {
    return Error{ErrorCode::parse, b.message};
  }
}

std::string archon_config_json(const ArchonConfig& config) {
  const ArchonComponent defaults;
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  if (!config.name.empty()) w.field("name", config.name);
  w.key("layers").begin_array();
  for (const auto& layer : config.layers) {
    w.begin_array();
    for (const auto& c : layer) {
      w.begin_object().field("type", c.type);
      if (!c.model.empty()) w.field("model", c.model);
      if (!c.model_type.empty()) w.field("model_type", c.model_type);
      if (c.temperature) w.field("temperature", *c.temperature);
      if (c.max_tokens != defaults.max_tokens) w.field("max_tokens", c.max_tokens);
      if (c.samples != defaults.samples) w.field("samples", c.samples);
      if (c.top_k != defaults.top_k) w.field("top_k", c.top_k);
      if (c.first_k != defaults.first_k) w.field("first_k", c.first_k);
      if (c.first_pass != defaults.first_pass) w.field("first_pass", c.first_pass);
      if (c.use_critiques != defaults.use_critiques) w.field("use_critiques", c.use_critiques);
      if (c.length_control != defaults.length_control) w.field("length_control", c.length_control);
      if (c.unit_test_cap != defaults.unit_test_cap) w.field("unit_test_cap", c.unit_test_cap);
      if (c.remove_unit_tests_from_prompt != defaults.remove_unit_tests_from_prompt)
        w.field("remove_unit_tests_from_prompt", c.remove_unit_tests_from_prompt);
      if (c.no_system != defaults.no_system) w.field("no_system", c.no_system);
      w.end_object();
    }
    w.end_array();
  }
  w.end_array();
  w.end_object();
  return out;
}

bool operator==(const ArchonComponent& a, const ArchonComponent& b) {
  return a.type == b.type && a.model == b.model && a.model_type == b.model_type && a.temperature == b.temperature &&
         a.max_tokens == b.max_tokens && a.samples == b.samples && a.top_k == b.top_k && a.first_k == b.first_k &&
         a.first_pass == b.first_pass && a.use_critiques == b.use_critiques && a.length_control == b.length_control &&
         a.unit_test_cap == b.unit_test_cap && a.remove_unit_tests_from_prompt == b.remove_unit_tests_from_prompt &&
         a.no_system == b.no_system;
}

bool operator==(const ArchonConfig& a, const ArchonConfig& b) { return a.name == b.name && a.layers == b.layers; }

}  // namespace troupe::workflows
