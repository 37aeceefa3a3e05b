// Archon's architecture search (pipelines.md §4(e)): the algorithms on a
// fake evaluator with a planted best, budget accounting, grid order, the
// halving schedule, the ITAS per-item cap, the layouts a point turns into,
// and search-space files that are wrong (FILE:LINE:COL errors).
#include <catch2/catch.hpp>

#include <functional>
#include <future>
#include <map>
#include <set>

#include "engine/scripted/scripted_backend.hpp"
#include "memory/store.hpp"
#include "support/temp_dir.hpp"
#include "workflows/inputs.hpp"
#include "workflows/search.hpp"
#include "workflows/search_eval.hpp"
#include "workflows/search_space.hpp"

using namespace troupe::workflows;
using namespace troupe::workflows::search;

namespace {

Space make_space(std::vector<int> sizes) {
  Space s;
  for (size_t d = 0; d < sizes.size(); ++d) {
    Dimension dim{"d" + std::to_string(d), {}};
    for (int c = 0; c < sizes[d]; ++c) dim.choices.push_back(std::to_string(c));
    s.dims.push_back(dim);
  }
  return s;
}

// Scores points by a planted function; each evaluation of `items` items is
// predicted at cost*items calls and reports `actual`*items.
struct FakeEvaluator : Evaluator {
  std::function<double(const Point&)> score;
  int items = 4;
  int64_t cost = 1, actual = 1;
  std::function<int64_t(const Point&)> per_item = [](const Point&) { return 1; };
  std::vector<std::pair<Point, int>> log;  // every evaluate() call

  int dev_items() const override { return items; }
  int64_t calls_per_item(const Point& p) const override { return per_item(p); }
  int64_t predicted_calls(const Point&, int n) const override { return cost * n; }
  Evaluation evaluate(const Point& p, int n) override {
    log.emplace_back(p, n);
    return {score(p), actual * n, ""};
  }
};

// A separable landscape peaking at `best`: each matching coordinate adds 1.
std::function<double(const Point&)> planted(Point best) {
  return [best](const Point& p) {
    double s = 0;
    for (size_t d = 0; d < p.size(); ++d) s += p[d] == best[d] ? 1 : 0;
    return s / static_cast<double>(p.size());
  };
}

SearchOptions opts(std::string algorithm, int64_t budget) {
  SearchOptions o;
  o.algorithm = std::move(algorithm);
  o.budget_calls = budget;
  return o;
}

}  // namespace

TEST_CASE("grid search visits every point in odometer order, last dimension fastest", "[search]") {
  Space space = make_space({2, 3});
  FakeEvaluator ev;
  ev.score = [](const Point&) { return 0.5; };
  auto r = run_search(space, ev, opts("grid", 1000));
  REQUIRE(r.ok());
  std::vector<Point> order;
  for (const auto& [p, n] : ev.log) order.push_back(p);
  CHECK(order == std::vector<Point>{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}});
  for (const auto& [p, n] : ev.log) CHECK(n == 4);  // every point on all dev items
  CHECK(r->stop_reason == "search complete");
  CHECK_FALSE(r->budget_stopped);
}

TEST_CASE("the search stops before an evaluation that would exceed the budget and counts real calls", "[search]") {
  Space space = make_space({10});
  FakeEvaluator ev;
  ev.score = [](const Point&) { return 0.1; };
  ev.items = 5;
  ev.cost = 2;    // predicted 10 calls per evaluation
  ev.actual = 1;  // each really makes 5
  // 0+10 <= 22: runs (spent 5); 5+10: runs (10); 10+10: runs (15); 15+10 > 22: stop.
  auto r = run_search(space, ev, opts("grid", 22));
  REQUIRE(r.ok());
  CHECK(ev.log.size() == 3);
  CHECK(r->trials.size() == 3);
  CHECK(r->spent == 15);
  CHECK(r->budget_stopped);
  CHECK(r->stop_reason.find("would exceed 22 calls") != std::string::npos);
}

TEST_CASE("random search is seeded: the same seed replays, another seed differs, all points distinct", "[search]") {
  Space space = make_space({4, 4, 3});
  const Point best{2, 1, 2};
  auto run = [&](uint64_t seed, int64_t budget) {
    FakeEvaluator ev;
    ev.items = 1;
    ev.score = planted(best);
    SearchOptions o = opts("random", budget);
    o.seed = seed;
    auto r = run_search(space, ev, o);
    REQUIRE(r.ok());
    return std::make_pair(*r, ev.log);
  };
  auto [a, log_a] = run(11, 20);
  auto [b, log_b] = run(11, 20);
  auto [c, log_c] = run(12, 20);
  CHECK(log_a == log_b);
  CHECK(log_a != log_c);
  CHECK(log_a.size() == 20);
  std::set<Point> distinct;
  for (const auto& [p, n] : log_a) distinct.insert(p);
  CHECK(distinct.size() == 20);
  // With the budget for the whole space it finds the planted best.
  auto [full, log_full] = run(11, 48);
  CHECK(log_full.size() == 48);
  CHECK(full.ranked().front().point == best);
  CHECK(full.ranked().front().score == 1.0);
}

TEST_CASE("greedy coordinate ascent climbs to a planted best with fewer evaluations than the grid", "[search]") {
  Space space = make_space({4, 3, 5, 2});  // 120 points
  const Point best{3, 0, 4, 1};
  FakeEvaluator ev;
  ev.score = planted(best);
  ev.items = 2;
  auto r = run_search(space, ev, opts("greedy", 10000));
  REQUIRE(r.ok());
  CHECK(r->ranked().front().point == best);
  // Pass 1 tries 1 + 3 + 2 + 4 + 1 = 11 points and reaches the best; pass 2
  // looks at its 10 neighbours, one of them already scored in pass 1, finds
  // none better and stops. Nothing is evaluated twice.
  CHECK(ev.log.size() == 20);
  CHECK(ev.log.front().first == Point{0, 0, 0, 0});
  std::set<Point> distinct;
  for (const auto& [p, n] : ev.log) distinct.insert(p);
  CHECK(distinct.size() == ev.log.size());
}

TEST_CASE("greedy starts from the given point and moves only on a strict improvement", "[search]") {
  Space space = make_space({3});
  FakeEvaluator ev;
  ev.score = [](const Point&) { return 0.5; };  // a plateau
  SearchOptions o = opts("greedy", 100);
  o.start = Point{1};
  auto r = run_search(space, ev, o);
  REQUIRE(r.ok());
  std::vector<Point> order;
  for (const auto& [p, n] : ev.log) order.push_back(p);
  CHECK(order == std::vector<Point>{{1}, {0}, {2}});
  // Ties rank by calls, then by the earlier trial: the start point first.
  CHECK(r->ranked().front().point == Point{1});
}

TEST_CASE("the halving schedule halves the points and doubles the items", "[search]") {
  auto eq = [](const std::vector<Rung>& a, const std::vector<std::pair<int, int>>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].configs != b[i].first || a[i].items != b[i].second) return false;
    return true;
  };
  CHECK(eq(halving_schedule(8, 8, 0), {{8, 1}, {4, 2}, {2, 4}, {1, 8}}));
  CHECK(eq(halving_schedule(5, 12, 2), {{5, 2}, {3, 4}, {2, 8}, {1, 12}}));
  CHECK(eq(halving_schedule(16, 40, 0), {{16, 2}, {8, 4}, {4, 8}, {2, 16}, {1, 32}}));
  CHECK(eq(halving_schedule(6, 3, 0), {{6, 1}, {3, 2}, {2, 3}, {1, 3}}));
  CHECK(eq(halving_schedule(1, 10, 0), {{1, 10}}));
}

TEST_CASE("successive halving keeps the better half on twice the items and ends on the planted best", "[search]") {
  Space space = make_space({8});
  FakeEvaluator ev;
  ev.items = 8;
  // Scores 0.1 .. 0.8 with the best at choice 5.
  const std::map<int, double> scores = {{0, 0.3}, {1, 0.1}, {2, 0.7}, {3, 0.2},
                                        {4, 0.5}, {5, 0.8}, {6, 0.4}, {7, 0.6}};
  ev.score = [&](const Point& p) { return scores.at(p[0]); };
  auto r = run_search(space, ev, opts("halving", 1000));
  REQUIRE(r.ok());
  std::map<int, std::vector<int>> by_items;  // items -> choices evaluated
  for (const auto& [p, n] : ev.log) by_items[n].push_back(p[0]);
  CHECK(by_items[1] == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(by_items[2] == std::vector<int>{5, 2, 7, 4});
  CHECK(by_items[4] == std::vector<int>{5, 2});
  CHECK(by_items[8] == std::vector<int>{5});
  CHECK(r->spent == 8 * 1 + 4 * 2 + 2 * 4 + 1 * 8);
  auto ranked = r->ranked();
  CHECK(ranked.front().point == Point{5});
  CHECK(ranked.front().items == 8);
  CHECK(ranked[1].point == Point{2});  // reached rung 2
}

TEST_CASE("a point over the per-item call cap scores -1 and is never run (ITAS)", "[search]") {
  Space space = make_space({4});
  FakeEvaluator ev;
  ev.score = [](const Point& p) { return 0.25 * p[0]; };
  ev.per_item = [](const Point& p) { return p[0] + 1; };  // 1..4 calls per item
  SearchOptions o = opts("grid", 1000);
  o.max_calls_per_item = 2;
  auto r = run_search(space, ev, o);
  REQUIRE(r.ok());
  std::vector<Point> run;
  for (const auto& [p, n] : ev.log) run.push_back(p);
  CHECK(run == std::vector<Point>{{0}, {1}});
  REQUIRE(r->trials.size() == 4);
  CHECK(r->trials[2].over_cap);
  CHECK(r->trials[2].score == -1);
  CHECK(r->trials[2].calls == 0);
  CHECK(r->ranked().front().point == Point{1});
  CHECK(r->ranked().back().over_cap);
}

TEST_CASE("a fatal evaluation failure ends the search with its error", "[search]") {
  Space space = make_space({5});
  struct Failing : FakeEvaluator {
    Evaluation evaluate(const Point& p, int n) override {
      log.emplace_back(p, n);
      if (p[0] == 1) return {-1, 0, "no backend", true};
      return {0.5, n, ""};
    }
  } ev;
  auto r = run_search(space, ev, opts("grid", 100));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "no backend");
  CHECK(ev.log.size() == 2);  // nothing after the failure
}

TEST_CASE("bad search options are errors and nothing is evaluated", "[search]") {
  Space space = make_space({2});
  FakeEvaluator ev;
  ev.score = [](const Point&) { return 0; };
  CHECK_FALSE(run_search(space, ev, opts("bayes", 10)).ok());
  CHECK_FALSE(run_search(space, ev, opts("grid", 0)).ok());
  SearchOptions o = opts("greedy", 10);
  o.start = Point{2};
  auto r = run_search(space, ev, o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "search: the start point is out of range in 'd0'");
  CHECK(ev.log.empty());
}

// ---------------------------------------------------------------------------
// Layouts and space files.

namespace {

const std::string kDir = std::string(TROUPE_SOURCE_DIR) + "/examples/search/";

LayoutSpace demo_layout() {
  LayoutSpace s;
  s.models = {"a", "b", "c"};
  s.generators = {1, 3};
  s.samples = {1, 2};
  s.fuser_layers = {0, 1};
  s.fusers = {2};
  s.critic = {false, true};
  s.ranker = {false, true};
  s.ranker_top_k = {4};
  s.final_fuser = {true, false};
  s.aggregator = {"top1", "c"};
  return s;
}

std::vector<std::string> types(const std::vector<ArchonComponent>& layer) {
  std::vector<std::string> out;
  for (const auto& x : layer) out.push_back(x.type + ":" + x.model);
  return out;
}

}  // namespace

TEST_CASE("a point becomes ITAS's layout: top-k generators, critic and ranker before every fuser stage", "[search]") {
  LayoutSpace s = demo_layout();
  // generators 3, samples 2, one fusion layer of 2, critic, ranker, final fuser, aggregator top1.
  ArchonConfig c = layout_config(s, {1, 1, 1, 0, 1, 1, 0, 0, 0}, "x");
  REQUIRE(c.layers.size() == 7);
  CHECK(types(c.layers[0]) == std::vector<std::string>{"generator:a", "generator:b", "generator:c"});
  CHECK(c.layers[0][2].samples == 2);
  CHECK(types(c.layers[1]) == std::vector<std::string>{"critic:a"});
  CHECK(types(c.layers[2]) == std::vector<std::string>{"ranker:a"});
  CHECK(c.layers[2][0].top_k == 4);
  CHECK(types(c.layers[3]) == std::vector<std::string>{"fuser:a", "fuser:b"});
  CHECK(types(c.layers[4]) == std::vector<std::string>{"critic:a"});
  CHECK(types(c.layers[5]) == std::vector<std::string>{"ranker:a"});
  CHECK(types(c.layers[6]) == std::vector<std::string>{"fuser:a"});
  CHECK(calls_per_item(c) == 6 + 1 + 1 + 2 + 1 + 1 + 1);
  CHECK(layout_summary(c) ==
        "gen a,b,c x2 > critic a > rank a top4 > 2 fusers > critic a > rank a top4 > fuser a");

  // No final fuser: a ranker keeps one candidate (aggregator c); one
  // generator with one sample needs nothing after it.
  ArchonConfig r = layout_config(s, {1, 0, 0, 0, 0, 0, 0, 1, 1}, "y");
  REQUIRE(r.layers.size() == 2);
  CHECK(types(r.layers[1]) == std::vector<std::string>{"ranker:c"});
  CHECK(r.layers[1][0].top_k == 1);
  ArchonConfig single = layout_config(s, {0, 0, 0, 0, 0, 0, 0, 1, 0}, "z");
  CHECK(single.layers.size() == 1);
  CHECK(calls_per_item(single) == 1);
  CHECK(layers_json(single) == R"([[{"type": "generator", "model": "a", "samples": 1}]])");
}

TEST_CASE("every layout's JSON reads back through Archon's parser as the same config", "[search]") {
  LayoutSpace s = demo_layout();
  Space space = layout_space(s);
  for (int64_t i = 0; i < space.size(); ++i) {
    ArchonConfig c = layout_config(s, point_at(space, i), "layout-" + std::to_string(i));
    auto parsed = parse_archon_json(layout_json(c), "layout");
    REQUIRE(parsed.ok());
    CHECK(*parsed == c);
    auto bare = parse_archon_json(layers_json(c), "layers");
    REQUIRE(bare.ok());
    CHECK(bare->layers == c.layers);
  }
}

TEST_CASE("judge replies score by their last Yes/No, else by a number over the scale", "[search]") {
  CHECK(judge_score("Yes", 10) == 1);
  CHECK(judge_score("No.", 10) == 0);
  CHECK(judge_score("At first glance yes, but the sum is off. No", 10) == 0);
  CHECK(judge_score("Score: 7", 10) == Approx(0.7));
  CHECK(judge_score("Score: 12", 10) == 1);
  CHECK(judge_score("cannot tell", 10) == 0);
  CHECK(judge_score("nobody knows", 10) == 0);  // "nobody" is not "no"
}

TEST_CASE("the example space file loads with its base workflow and choices", "[search]") {
  auto spec = load_search_spec(kDir + "space.yaml");
  REQUIRE(spec.ok());
  CHECK(spec->base.pipeline == "archon");
  CHECK(spec->base.name == "search-demo");
  CHECK(spec->base.backend.kind == troupe::workflows::BackendKind::scripted);
  CHECK(spec->base.backend.fixture == kDir + "fixture.yaml");
  CHECK(spec->layout.models == std::vector<std::string>{"bad", "good"});
  CHECK(spec->layout.final_fuser == std::vector<bool>{true, false});
  CHECK(spec->options.algorithm == "grid");
  CHECK(spec->options.seed == 7);
  CHECK(spec->options.max_calls_per_item == 4);
  CHECK(layout_space(spec->layout).size() == 2 * 2 * 1 * 1 * 1 * 1 * 1 * 2 * 2);
  // The written workflow keeps the base and carries the fixture as an absolute path.
  std::string yaml = workflow_yaml(*spec, layout_config(spec->layout, {1, 0, 0, 0, 0, 0, 0, 0, 1}, "w"), "w");
  CHECK(yaml.find("pipeline: archon\n") != std::string::npos);
  CHECK(yaml.find("fixture: " + kDir + "fixture.yaml") != std::string::npos);
  CHECK(yaml.find("    - [{\"type\": \"generator\", \"model\": \"bad\", \"samples\": 1}, "
                  "{\"type\": \"generator\", \"model\": \"good\", \"samples\": 1}]\n") != std::string::npos);
  CHECK(yaml.find("    - [{\"type\": \"fuser\", \"model\": \"good\", \"samples\": 1}]\n") != std::string::npos);
}

TEST_CASE("invalid search space files name FILE:LINE:COL", "[search]") {
  const std::string file = kDir + "bad.yaml";
  auto err = [&](const std::string& text) {
    auto r = parse_search_spec(text, file);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  };
  const std::string head = "backend: {kind: scripted, fixture: fixture.yaml}\n";
  CHECK(err(head + "space:\n  models: [a]\n  modles: [b]\n") ==
        file + ":4:3: unknown key 'modles' in space (accepted: models, generators, samples, fuser_layers, fusers, "
               "critic, ranker, ranker_top_k, final_fuser, aggregator, rank_models)");
  CHECK(err(head + "space:\n  models: [a, b]\n  generators: [1, 3]\n") ==
        file + ":4:19: space.generators: 3 generators need 3 models; space.models lists 2");
  CHECK(err(head + "space:\n  models: [a]\n  samples: [1, two]\n") ==
        file + ":4:16: space.samples: expected an integer, got 'two'");
  CHECK(err(head + "space:\n  models: [a]\n  critic: [yes, false]\n") ==
        file + ":4:12: space.critic: expected true or false");
  CHECK(err(head + "space:\n  models: [a]\nsearch:\n  algorithm: bayes\n") ==
        file + ":5:14: search.algorithm: unknown algorithm 'bayes' (accepted: random, grid, greedy, halving)");
  CHECK(err(head + "space:\n  models: [a, b]\n  generators: [1, 2]\nsearch:\n  start: {generators: 3}\n") ==
        file + ":6:23: search.start.generators: '3' is not one of the choices (1, 2)");
  CHECK(err(head + "params: {max_turns: 2}\nspace:\n  models: [a]\n") ==
        file + ":2:1: 'params' is what the search chooses; describe the choices under 'space'");
  CHECK(err(head + "space:\n  models: [a]\nscoring:\n  method: vibes\n") ==
        file + ":5:11: scoring.method: unknown method 'vibes' (accepted: exact, judge)");
  CHECK(err(head) == file + ":1:1: 'space' is required (the choices to search)");
  CHECK(err(head + "space:\n  models: [a]\n  aggregator: z\n") ==
        file + ":4:15: space.aggregator: 'z' is not in space.models (or top1)");
  // A problem in the workflow keys is the workflow loader's, at this file's line.
  std::string loader = err("space:\n  models: [a]\nbackend: {kind: scripted, fixture: f.yaml}\nconcurrency: 0\n");
  CHECK(loader.rfind(file + ":4:", 0) == 0);
  CHECK(loader.find("concurrency") != std::string::npos);
}

TEST_CASE("scripted rules keyed on a model answer only that model's requests (the search fixtures)", "[search]") {
  auto fx = troupe::engine::ScriptedBackend::parse_fixture(
      "rules:\n  - {model: good, match: q, reply: right}\n  - {match: q, reply: wrong}\n", "fx");
  REQUIRE(fx.ok());
  troupe::engine::ScriptedBackend backend(*fx, "base");
  auto ask = [&](const std::string& model) {
    troupe::engine::GenerateRequest req;
    req.model = model;
    req.prompt = "q";
    req.kind = troupe::engine::PromptKind::text;
    std::promise<std::string> got;
    backend.submit(req, [&](troupe::Result<troupe::engine::GenerateResult> r) {
      got.set_value(r.ok() ? r->choices.at(0).text : "error");
    });
    return got.get_future().get();
  };
  CHECK(ask("good") == "right");
  CHECK(ask("other") == "wrong");
  CHECK(ask("") == "wrong");  // the backend's own model, "base"
  auto bad = troupe::engine::ScriptedBackend::parse_fixture("rules:\n  - {model: good, mdl: x, reply: r}\n", "fx");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("fx:2:19: unknown rule key 'mdl'") == 0);
}

TEST_CASE("the power ranking runs each model alone and orders them best first, ties in the given order",
          "[search]") {
  auto spec = load_search_spec(kDir + "space.yaml");
  REQUIRE(spec.ok());
  spec->layout.models = {"bad", "good", "solo"};
  std::vector<troupe::actors::RunInput> dev;
  {
    auto in = JsonlInputs::open(kDir + "dev.jsonl");
    REQUIRE(in.ok());
    for (;;) {
      auto next = (*in)->next();
      REQUIRE(next.ok());
      if (!*next) break;
      dev.push_back(**next);
    }
  }
  REQUIRE(dev.size() == 3);
  auto fx = troupe::engine::ScriptedBackend::load_fixture(kDir + "fixture.yaml");
  REQUIRE(fx.ok());
  auto backend = std::make_shared<troupe::engine::ScriptedBackend>(*fx);
  troupe::testing::TempDir dir;
  auto store = troupe::memory::Store::open(dir.file("db"));
  REQUIRE(store.ok());
  RunnerEvaluator ev(*spec, dev, backend, std::shared_ptr<troupe::memory::Store>(std::move(store.value())));
  int64_t spent = 0;
  std::vector<std::pair<std::string, Evaluation>> table;
  auto ranking = power_rank(ev, 3, 100, spent, &table);
  REQUIRE(ranking.ok());
  // solo is right on 2 of 3; bad and good alone on none (good only drafts).
  CHECK(*ranking == std::vector<std::string>{"solo", "bad", "good"});
  REQUIRE(table.size() == 3);
  CHECK(table[2].first == "solo");
  CHECK(table[2].second.score == Approx(2.0 / 3.0));
  CHECK(table[0].second.score == 0);
  CHECK(spent == 9);  // one call per item per model
  CHECK(backend->calls() == 9);
  // A budget that cannot pay for the next model keeps the given order.
  int64_t spent2 = 0;
  auto kept = power_rank(ev, 3, 5, spent2);
  REQUIRE(kept.ok());
  CHECK(*kept == std::vector<std::string>{"bad", "good", "solo"});
  CHECK(spent2 == 3);
}
