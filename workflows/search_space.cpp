// The search-space file and the Archon layouts it spans (pipelines.md
// §4(e) step 2); see search_space.hpp.
#include "workflows/search_space.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/json_writer.hpp"
#include "common/yaml_read.hpp"

namespace troupe::workflows::search {

const std::vector<std::string> kDimensionNames = {"generators", "samples",      "fuser_layers", "fusers",
                                                  "critic",     "ranker",       "ranker_top_k", "final_fuser",
                                                  "aggregator"};

namespace {

namespace fs = std::filesystem;

// A problem at a node, thrown inside the parser and caught at its edge.
struct Failure {
  Error error;
};

class Parser {
 public:
  explicit Parser(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const YAML::Mark& m, const std::string& what) const {
    throw Failure{Error{ErrorCode::parse,
                        path_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": " + what}};
  }
  [[noreturn]] void fail(const YAML::Node& n, const std::string& what) const { fail(n.Mark(), what); }

  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  void check_keys(const YAML::Node& map, const std::string& where, const std::vector<std::string>& keys) const {
    if (!map.IsMap()) fail(map, where + " must be a map");
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string k = it->first.Scalar();
      if (std::find(keys.begin(), keys.end(), k) == keys.end())
        fail(it->first, "unknown key '" + k + "' in " + where + " (accepted: " + join(keys) + ")");
      if (!seen.insert(k).second) fail(it->first, "duplicate key '" + k + "' in " + where);
    }
  }

  int as_int(const YAML::Node& n, const std::string& what, int min) const {
    if (!n.IsScalar()) fail(n, what + ": expected an integer");
    int v = 0;
    try {
      v = n.as<int>();
    } catch (const YAML::Exception&) {
      fail(n, what + ": expected an integer, got '" + n.Scalar() + "'");
    }
    if (v < min) fail(n, what + ": must be >= " + std::to_string(min) + ", got " + std::to_string(v));
    return v;
  }
  bool as_bool(const YAML::Node& n, const std::string& what) const {
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false"))
      fail(n, what + ": expected true or false");
    return n.Scalar() == "true";
  }
  std::string as_string(const YAML::Node& n, const std::string& what) const {
    if (!n.IsScalar()) fail(n, what + ": expected a string");
    return n.Scalar();
  }

  // A dimension's choices: one scalar or a non-empty list without repeats.
  template <class T, class F>
  std::vector<T> choices(const YAML::Node& n, const std::string& what, F&& one) const {
    std::vector<T> out;
    if (n.IsScalar()) {
      out.push_back(one(n));
      return out;
    }
    if (!n.IsSequence() || n.size() == 0) fail(n, what + ": expected a value or a non-empty list of choices");
    for (const auto& x : n) {
      T v = one(x);
      if (std::find(out.begin(), out.end(), v) != out.end()) fail(x, what + ": choice listed twice");
      out.push_back(v);
    }
    return out;
  }

  std::vector<int> ints(const YAML::Node& n, const std::string& what, int min) const {
    return choices<int>(n, what, [&](const YAML::Node& x) { return as_int(x, what, min); });
  }
  std::vector<bool> bools(const YAML::Node& n, const std::string& what) const {
    return choices<bool>(n, what, [&](const YAML::Node& x) { return as_bool(x, what); });
  }
  std::vector<std::string> strings(const YAML::Node& n, const std::string& what) const {
    return choices<std::string>(n, what, [&](const YAML::Node& x) {
      std::string s = as_string(x, what);
      if (s.empty()) fail(x, what + ": empty name");
      return s;
    });
  }

  void parse_space(const YAML::Node& n, LayoutSpace& s) const {
    check_keys(n, "space",
               {"models", "generators", "samples", "fuser_layers", "fusers", "critic", "ranker", "ranker_top_k",
                "final_fuser", "aggregator", "rank_models"});
    if (!n["models"]) fail(n, "space: 'models' is required (the models, best first)");
    s.models = strings(n["models"], "space.models");
    if (n["generators"]) {
      s.generators = ints(n["generators"], "space.generators", 1);
      int i = 0;
      for (int g : s.generators) {
        if (g > static_cast<int>(s.models.size())) {
          const YAML::Node at = n["generators"].IsSequence() ? n["generators"][i] : n["generators"];
          fail(at, "space.generators: " + std::to_string(g) + " generators need " + std::to_string(g) +
                       " models; space.models lists " + std::to_string(s.models.size()));
        }
        ++i;
      }
    }
    if (n["samples"]) s.samples = ints(n["samples"], "space.samples", 1);
    if (n["fuser_layers"]) s.fuser_layers = ints(n["fuser_layers"], "space.fuser_layers", 0);
    if (n["fusers"]) s.fusers = ints(n["fusers"], "space.fusers", 1);
    if (n["critic"]) s.critic = bools(n["critic"], "space.critic");
    if (n["ranker"]) s.ranker = bools(n["ranker"], "space.ranker");
    if (n["ranker_top_k"]) s.ranker_top_k = ints(n["ranker_top_k"], "space.ranker_top_k", 1);
    if (n["final_fuser"]) s.final_fuser = bools(n["final_fuser"], "space.final_fuser");
    if (n["aggregator"]) {
      s.aggregator = strings(n["aggregator"], "space.aggregator");
      int i = 0;
      for (const auto& a : s.aggregator) {
        if (a != "top1" && std::find(s.models.begin(), s.models.end(), a) == s.models.end()) {
          const YAML::Node at = n["aggregator"].IsSequence() ? n["aggregator"][i] : n["aggregator"];
          fail(at, "space.aggregator: '" + a + "' is not in space.models (or top1)");
        }
        ++i;
      }
    }
    if (n["rank_models"]) s.rank_models = as_bool(n["rank_models"], "space.rank_models");
  }

  void parse_search(const YAML::Node& n, SearchSpec& spec) const {
    check_keys(n, "search", {"algorithm", "seed", "trials", "start", "configs", "min_items", "max_calls_per_item"});
    SearchOptions& o = spec.options;
    if (n["algorithm"]) {
      o.algorithm = as_string(n["algorithm"], "search.algorithm");
      const std::vector<std::string> known = {"random", "grid", "greedy", "halving"};
      if (std::find(known.begin(), known.end(), o.algorithm) == known.end())
        fail(n["algorithm"], "search.algorithm: unknown algorithm '" + o.algorithm + "' (accepted: " + join(known) + ")");
    }
    if (n["seed"]) o.seed = static_cast<uint64_t>(as_int(n["seed"], "search.seed", 0));
    if (n["trials"]) o.trials = as_int(n["trials"], "search.trials", 0);
    if (n["configs"]) o.halving_configs = as_int(n["configs"], "search.configs", 1);
    if (n["min_items"]) o.halving_min_items = as_int(n["min_items"], "search.min_items", 1);
    if (n["max_calls_per_item"]) o.max_calls_per_item = as_int(n["max_calls_per_item"], "search.max_calls_per_item", 0);
    if (n["start"]) {
      const YAML::Node st = n["start"];
      check_keys(st, "search.start", kDimensionNames);
      Space space = layout_space(spec.layout);
      Point p(space.dims.size(), 0);
      for (size_t d = 0; d < space.dims.size(); ++d) {
        const YAML::Node v = st[space.dims[d].name];
        if (!v) continue;
        if (!v.IsScalar()) fail(v, "search.start." + space.dims[d].name + ": expected one value");
        const auto& c = space.dims[d].choices;
        auto it = std::find(c.begin(), c.end(), v.Scalar());
        if (it == c.end())
          fail(v, "search.start." + space.dims[d].name + ": '" + v.Scalar() + "' is not one of the choices (" +
                      join(c) + ")");
        p[d] = static_cast<int>(it - c.begin());
      }
      o.start = p;
    }
  }

  void parse_scoring(const YAML::Node& n, ScoringSpec& s) const {
    check_keys(n, "scoring", {"method", "model", "system", "template", "max_tokens", "scale"});
    if (n["method"]) {
      s.method = as_string(n["method"], "scoring.method");
      if (s.method != "exact" && s.method != "judge")
        fail(n["method"], "scoring.method: unknown method '" + s.method + "' (accepted: exact, judge)");
    }
    if (n["model"]) s.model = as_string(n["model"], "scoring.model");
    if (n["system"]) s.system = as_string(n["system"], "scoring.system");
    if (n["template"]) {
      s.template_text = as_string(n["template"], "scoring.template");
      if (s.template_text.find("{answer}") == std::string::npos)
        fail(n["template"], "scoring.template: the judge prompt must contain {answer}");
    }
    if (n["max_tokens"]) s.max_tokens = as_int(n["max_tokens"], "scoring.max_tokens", 1);
    if (n["scale"]) {
      try {
        s.scale = n["scale"].as<double>();
      } catch (const YAML::Exception&) {
        fail(n["scale"], "scoring.scale: expected a number");
      }
      if (!(s.scale > 0)) fail(n["scale"], "scoring.scale: must be > 0");
    }
    if (s.method != "judge" && (n["model"] || n["system"] || n["template"]))
      fail(n, "scoring: model, system and template are for method judge");
  }

  SearchSpec parse(const std::string& text) const {
    auto read = read_yaml(text, path_);  // bounded: common/yaml_read.hpp
    if (!read.ok()) throw Failure{read.error()};
    YAML::Node root = *read;
    if (!root.IsMap()) fail(root, "a search space file is a map (workflow keys, space, search, scoring)");
    // Top-level keys, their lines, and which are the search's own.
    std::vector<std::pair<int, std::string>> tops;
    std::set<std::string> seen;
    for (auto it = root.begin(); it != root.end(); ++it) {
      std::string k = it->first.Scalar();
      if (!seen.insert(k).second) fail(it->first, "duplicate key '" + k + "'");
      if (k == "params")
        fail(it->first, "'params' is what the search chooses; describe the choices under 'space'");
      if (k == "pipeline" && it->second.Scalar() != "archon")
        fail(it->second, "pipeline: a search space is for pipeline 'archon' (the default here)");
      tops.emplace_back(it->first.Mark().line, k);
    }
    if (!root["space"]) fail(root, "'space' is required (the choices to search)");
    // The base workflow: this text with the search's own blocks blanked
    // (line numbers kept, so the loader's errors point into this file).
    std::vector<std::string> lines;
    {
      std::stringstream ss(text);
      std::string line;
      while (std::getline(ss, line)) lines.push_back(line);
    }
    std::sort(tops.begin(), tops.end());
    const std::set<std::string> own = {"space", "search", "scoring", "pipeline"};
    for (size_t i = 0; i < tops.size(); ++i) {
      if (!own.count(tops[i].second)) continue;
      const int from = tops[i].first;
      const int to = i + 1 < tops.size() ? tops[i + 1].first : static_cast<int>(lines.size());
      for (int l = from; l < to && l < static_cast<int>(lines.size()); ++l) lines[static_cast<size_t>(l)].clear();
    }
    std::string base_text;
    for (const auto& l : lines) base_text += l + "\n";
    base_text += "pipeline: archon\n";
    auto base = parse_workflow(base_text, path_);
    if (!base.ok()) throw Failure{base.error()};

    SearchSpec spec;
    spec.file = path_;
    spec.base = std::move(base.value());
    parse_space(root["space"], spec.layout);
    if (root["search"]) parse_search(root["search"], spec);
    if (root["scoring"]) parse_scoring(root["scoring"], spec.scoring);

    // The base keys as YAML, with backend paths absolute (the written
    // workflow may live in another folder).
    YAML::Node out(YAML::NodeType::Map);
    for (auto it = root.begin(); it != root.end(); ++it) {
      std::string k = it->first.Scalar();
      if (own.count(k) || k == "name") continue;
      out[k] = YAML::Clone(it->second);
    }
    if (out["backend"]) {
      const BackendConfig& b = spec.base.backend;
      if (!b.fixture.empty()) out["backend"]["fixture"] = b.fixture;
      if (!b.model_file.empty()) out["backend"]["model_file"] = b.model_file;
      if (!b.tokenizer.empty()) out["backend"]["tokenizer"] = b.tokenizer;
    }
    YAML::Emitter em;
    em << out;
    spec.base_yaml = std::string(em.c_str()) + "\n";
    return spec;
  }

 private:
  std::string path_;
};

std::string bool_text(bool b) { return b ? "true" : "false"; }

}  // namespace

Result<SearchSpec> parse_search_spec(const std::string& text, const std::string& path) {
  try {
    return Parser(path).parse(text);
  } catch (const Failure& f) {
    return f.error;
  } catch (const YAML::Exception& e) {
    return Error{ErrorCode::parse, path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                       std::to_string(e.mark.column + 1) + ": " + e.msg};
  }
}

Result<SearchSpec> load_search_spec(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Error{ErrorCode::not_found, "search space file not found: " + path};
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorCode::io, "cannot open search space file: " + path};
  std::ostringstream text;
  text << in.rdbuf();
  return parse_search_spec(text.str(), path);
}

Space layout_space(const LayoutSpace& s) {
  auto ints = [](const std::vector<int>& v) {
    std::vector<std::string> out;
    for (int x : v) out.push_back(std::to_string(x));
    return out;
  };
  auto bools = [](const std::vector<bool>& v) {
    std::vector<std::string> out;
    for (bool x : v) out.push_back(bool_text(x));
    return out;
  };
  Space space;
  space.dims = {{"generators", ints(s.generators)},     {"samples", ints(s.samples)},
                {"fuser_layers", ints(s.fuser_layers)}, {"fusers", ints(s.fusers)},
                {"critic", bools(s.critic)},            {"ranker", bools(s.ranker)},
                {"ranker_top_k", ints(s.ranker_top_k)}, {"final_fuser", bools(s.final_fuser)},
                {"aggregator", s.aggregator}};
  return space;
}

ArchonConfig layout_config(const LayoutSpace& s, const Point& p, const std::string& name) {
  auto at = [&](size_t d) { return static_cast<size_t>(p[d]); };
  const int generators = s.generators[at(0)];
  const int samples = s.samples[at(1)];
  const int fuser_layers = s.fuser_layers[at(2)];
  const int fusers = s.fusers[at(3)];
  const bool critic = s.critic[at(4)];
  const bool ranker = s.ranker[at(5)];
  const int top_k = s.ranker_top_k[at(6)];
  const bool final_fuser = s.final_fuser[at(7)];
  const std::string agg = s.aggregator[at(8)] == "top1" ? s.models.front() : s.aggregator[at(8)];

  ArchonConfig c;
  c.name = name;
  auto component = [](std::string type, std::string model) {
    ArchonComponent x;
    x.type = std::move(type);
    x.model = std::move(model);
    return x;
  };
  // ITAS step 2: the top `generators` models of the power ranking generate.
  std::vector<ArchonComponent> gen;
  for (int i = 0; i < generators; ++i) {
    ArchonComponent g = component("generator", s.models[static_cast<size_t>(i)]);
    g.samples = samples;
    gen.push_back(g);
  }
  c.layers.push_back(gen);
  int candidates = generators * samples;
  // Each fusion layer, then the final stage, preceded by an optional critic
  // and an optional ranker (the ranker reads the critiques).
  for (int stage = 0; stage <= fuser_layers; ++stage) {
    const bool last = stage == fuser_layers;
    if (last && !final_fuser && candidates <= 1) break;
    if (critic) c.layers.push_back({component("critic", agg)});
    if (ranker || (last && !final_fuser)) {
      ArchonComponent r = component("ranker", agg);
      r.top_k = last && !final_fuser ? 1 : top_k;
      candidates = std::min(candidates, r.top_k);
      c.layers.push_back({r});
    }
    if (last && !final_fuser) break;
    if (last) {
      c.layers.push_back({component("fuser", agg)});
      break;
    }
    // An intermediate fusion layer: fuser j asks the j-th model of the ranking.
    std::vector<ArchonComponent> layer;
    for (int j = 0; j < fusers; ++j)
      layer.push_back(component("fuser", s.models[static_cast<size_t>(j) % s.models.size()]));
    c.layers.push_back(layer);
    candidates = fusers;
  }
  return c;
}

int64_t calls_per_item(const ArchonConfig& config) {
  int64_t n = 0;
  for (const auto& layer : config.layers)
    for (const auto& x : layer) n += (x.type == "generator" || x.type == "fuser") ? x.samples : 1;
  return n;
}

std::string layout_summary(const ArchonConfig& config) {
  std::string out;
  for (const auto& layer : config.layers) {
    if (layer.empty()) continue;
    std::string part;
    const std::string& type = layer.front().type;
    if (type == "generator") {
      part = "gen ";
      for (size_t i = 0; i < layer.size(); ++i) part += (i ? "," : "") + layer[i].model;
      if (layer.front().samples > 1) part += " x" + std::to_string(layer.front().samples);
    } else if (type == "ranker") {
      part = "rank " + layer.front().model + " top" + std::to_string(layer.front().top_k);
    } else if (type == "fuser" && layer.size() > 1) {
      part = std::to_string(layer.size()) + " fusers";
    } else {
      part = type + " " + layer.front().model;
    }
    out += (out.empty() ? "" : " > ") + part;
  }
  return out;
}

namespace {

// One component as a JSON object (the keys this search sets).
std::string component_json(const ArchonComponent& x) {
  std::string out = "{\"type\": " + json_quote(x.type);
  if (!x.model.empty()) out += ", \"model\": " + json_quote(x.model);
  if (x.type == "generator" || x.type == "fuser") out += ", \"samples\": " + std::to_string(x.samples);
  if (x.type == "ranker") out += ", \"top_k\": " + std::to_string(x.top_k);
  return out + "}";
}

std::string layer_json(const std::vector<ArchonComponent>& layer) {
  std::string out = "[";
  for (size_t i = 0; i < layer.size(); ++i) out += (i ? ", " : "") + component_json(layer[i]);
  return out + "]";
}

}  // namespace

std::string layers_json(const ArchonConfig& config) {
  std::string out = "[";
  for (size_t i = 0; i < config.layers.size(); ++i) out += (i ? ", " : "") + layer_json(config.layers[i]);
  return out + "]";
}

std::string layout_json(const ArchonConfig& config) {
  std::string out = "{\n  \"name\": " + json_quote(config.name) + ",\n  \"layers\": [\n";
  for (size_t i = 0; i < config.layers.size(); ++i)
    out += "    " + layer_json(config.layers[i]) + (i + 1 < config.layers.size() ? ",\n" : "\n");
  return out + "  ]\n}\n";
}

std::string workflow_yaml(const SearchSpec& spec, const ArchonConfig& config, const std::string& name) {
  std::string out = "# Found by `troupe search " + spec.file + "`: " + layout_summary(config) + "\n";
  out += "name: " + json_quote(name) + "\npipeline: archon\n" + spec.base_yaml;
  out += "params:\n  layers:\n";
  for (const auto& layer : config.layers) out += "    - " + layer_json(layer) + "\n";
  return out;
}

}  // namespace troupe::workflows::search
