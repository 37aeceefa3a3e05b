// Scoring layouts by running them on the dev set; see search_eval.hpp.
#include "workflows/search_eval.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include "actors/roles.hpp"
#include "common/ids.hpp"
#include "common/json_writer.hpp"
#include "workflows/inputs.hpp"
#include "workflows/runner.hpp"

namespace troupe::workflows::search {

namespace {

const char* kDefaultJudgeTemplate =
    "Question: {question}\n\nReference answer: {reference}\n\nProposed answer: {answer}\n\n"
    "Does the proposed answer give the same final answer as the reference? Reply with one word: Yes or No.";

// A short, stable key for a point: "g2-s1-l0-f1-c0-r1-k5-ff1-top1".
std::string point_key(const LayoutSpace& s, const Point& p) {
  auto at = [&](size_t d) { return static_cast<size_t>(p[d]); };
  return "g" + std::to_string(s.generators[at(0)]) + "-s" + std::to_string(s.samples[at(1)]) + "-l" +
         std::to_string(s.fuser_layers[at(2)]) + "-f" + std::to_string(s.fusers[at(3)]) + "-c" +
         (s.critic[at(4)] ? "1" : "0") + "-r" + (s.ranker[at(5)] ? "1" : "0") + "-k" +
         std::to_string(s.ranker_top_k[at(6)]) + "-ff" + (s.final_fuser[at(7)] ? "1" : "0") + "-" +
         s.aggregator[at(8)];
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

double judge_score(const std::string& reply, double scale) {
  // The last standalone yes/no word decides.
  const std::string t = lower(reply);
  int verdict = -1;
  for (size_t i = 0; i < t.size();) {
    if (!std::isalpha(static_cast<unsigned char>(t[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < t.size() && std::isalpha(static_cast<unsigned char>(t[j]))) ++j;
    std::string word = t.substr(i, j - i);
    if (word == "yes") verdict = 1;
    else if (word == "no") verdict = 0;
    i = j;
  }
  if (verdict >= 0) return verdict;
  for (size_t i = 0; i < t.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(t[i]))) {
      double n = std::strtod(t.c_str() + i, nullptr);
      return std::clamp(n / scale, 0.0, 1.0);
    }
  }
  return 0;
}

RunnerEvaluator::RunnerEvaluator(SearchSpec spec, std::vector<actors::RunInput> dev,
                                 std::shared_ptr<engine::Backend> backend, std::shared_ptr<memory::Store> store)
    : spec_(std::move(spec)), dev_(std::move(dev)), backend_(std::move(backend)), store_(std::move(store)) {}

ArchonConfig RunnerEvaluator::config_of(const Point& p) const {
  return layout_config(spec_.layout, p, spec_.base.name + "@" + point_key(spec_.layout, p));
}

int64_t RunnerEvaluator::calls_per_item(const Point& p) const { return search::calls_per_item(config_of(p)); }

int64_t RunnerEvaluator::predicted_calls(const Point& p, int items) const {
  if (scored_.count({layers_json(config_of(p)), items})) return 0;  // the same layers, already scored
  const int64_t judge = spec_.scoring.method == "judge" ? 1 : 0;
  return (calls_per_item(p) + judge) * items;
}

Evaluation RunnerEvaluator::evaluate(const Point& p, int items) {
  // Points that differ only in unused choices (an aggregator with no
  // aggregating layer) give the same layers: run those once.
  const ArchonConfig config = config_of(p);
  const std::string layers = layers_json(config);
  first_point_.emplace(layers, p);
  auto key = std::make_pair(layers, items);
  if (auto it = scored_.find(key); it != scored_.end()) {
    Evaluation again = it->second;
    again.calls = 0;
    return again;
  }
  Evaluation e = evaluate_config(config, items);
  if (!e.fatal) {
    scored_.emplace(key, e);
    ++layouts_run_;
  }
  return e;
}

bool RunnerEvaluator::repeats_earlier_point(const Point& p) const {
  auto it = first_point_.find(layers_json(config_of(p)));
  return it != first_point_.end() && it->second != p;
}

Evaluation RunnerEvaluator::evaluate_config(const ArchonConfig& config, int items) {
  Evaluation ev;
  items = std::clamp(items, 0, dev_items());
  std::vector<actors::RunInput> subset(dev_.begin(), dev_.begin() + items);
  RunnerOptions ro;
  ro.backend = backend_;
  ro.store = store_;

  // The configuration as the workflow file `troupe search` would write.
  Workflow wf = spec_.base;
  wf.name = config.name;
  wf.pipeline = "archon";
  wf.params.clear();
  wf.params["layers"] = ParamValue{layers_json(config), 0, 0};  // inline layers: JSON text
  wf.text_hash = sha256_hex(workflow_yaml(spec_, config, config.name));

  std::map<std::string, std::string> answers;
  auto runner = Runner::create(wf, ro);
  if (!runner.ok()) {
    ev.fatal = true;
    ev.error = runner.error().message;
    return ev;
  }
  VectorInputs inputs(subset);
  auto sum = (*runner)->run(inputs, [&](const actors::RunOutcome& o, const RunSummary&) {
                              if (o.status == "succeeded") answers[o.item_id] = o.answer;
                            });
  if (!sum.ok()) {
    ev.fatal = true;
    ev.error = sum.error().message;
    return ev;
  }
  ev.calls = sum->calls;
  if (spec_.scoring.method == "exact") {
    if (sum->with_gold < static_cast<int64_t>(subset.size())) {
      ev.fatal = true;
    ev.error = "exact scoring needs an `answer` on every dev item";
      return ev;
    }
    ev.score = sum->with_gold > 0 ? static_cast<double>(sum->correct) / static_cast<double>(sum->with_gold) : 0;
    return ev;
  }

  // Judge scoring: one judge call per item that produced an answer.
  const ScoringSpec& sc = spec_.scoring;
  std::vector<actors::RunInput> asks;
  for (const auto& item : subset) {
    auto it = answers.find(item.item_id);
    if (it == answers.end()) continue;  // a failed run scores 0
    actors::RunInput ask;
    ask.item_id = item.item_id;
    ask.question = actors::render_template(
        sc.template_text.empty() ? kDefaultJudgeTemplate : sc.template_text,
        {{"question", item.question}, {"answer", it->second}, {"reference", item.gold.value_or("")}});
    ask.raw_json = item.raw_json;
    asks.push_back(std::move(ask));
  }
  ArchonConfig judge;
  judge.name = spec_.base.name + "@judge";
  ArchonComponent g;
  g.type = "generator";
  g.model = sc.model;
  judge.layers.push_back({g});
  Workflow jw = spec_.base;
  jw.name = judge.name;
  jw.pipeline = "archon";
  jw.params.clear();
  jw.params["layers"] = ParamValue{layers_json(judge), 0, 0};
  RoleConfig judge_role;
  judge_role.system = sc.system;
  judge_role.template_text = "{question}";
  judge_role.sampling.temperature = 0;
  judge_role.sampling.max_tokens = sc.max_tokens;
  jw.roles = {{"generator", judge_role}};
  jw.text_hash = sha256_hex("judge\n" + sc.model + "\n" + sc.system + "\n" + sc.template_text);
  auto jr = Runner::create(jw, ro);
  if (!jr.ok()) {
    ev.fatal = true;
    ev.error = "judge: " + jr.error().message;
    return ev;
  }
  double total = 0;
  VectorInputs judge_inputs(asks);
  auto js = (*jr)->run(judge_inputs, [&](const actors::RunOutcome& o, const RunSummary&) {
    if (o.status == "succeeded") total += judge_score(o.answer, sc.scale);
  });
  if (!js.ok()) {
    ev.fatal = true;
    ev.error = "judge: " + js.error().message;
    return ev;
  }
  ev.calls += js->calls;
  ev.score = subset.empty() ? 0 : total / static_cast<double>(subset.size());
  return ev;
}

Result<std::vector<std::string>> power_rank(RunnerEvaluator& ev, int items, int64_t budget, int64_t& spent,
                                            std::vector<std::pair<std::string, Evaluation>>* table) {
  const auto& models = ev.spec().layout.models;
  const int64_t judge = ev.spec().scoring.method == "judge" ? 1 : 0;
  std::vector<std::pair<double, std::string>> scored;
  for (const auto& m : models) {
    if (spent + (1 + judge) * items > budget) return models;
    ArchonConfig c;
    c.name = ev.spec().base.name + "@rank-" + m;
    ArchonComponent g;
    g.type = "generator";
    g.model = m;
    c.layers.push_back({g});
    Evaluation e = ev.evaluate_config(c, items);
    spent += e.calls;
    if (!e.error.empty()) return Error{ErrorCode::invalid_argument, "power ranking, model " + m + ": " + e.error};
    if (table) table->emplace_back(m, e);
    scored.emplace_back(e.score, m);
  }
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (auto& [s, m] : scored) out.push_back(m);
  return out;
}

}  // namespace troupe::workflows::search
