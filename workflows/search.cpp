// The search algorithms of Archon's ITAS (pipelines.md §4(e) step 4) over an
// abstract Space; see search.hpp for the contract.
#include "workflows/search.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <set>

namespace troupe::workflows::search {

int64_t Space::size() const {
  int64_t n = 1;
  for (const auto& d : dims) {
    const auto k = static_cast<int64_t>(d.choices.size());
    if (k == 0) return 0;
    if (n > std::numeric_limits<int64_t>::max() / k) return std::numeric_limits<int64_t>::max();
    n *= k;
  }
  return n;
}

std::string describe(const Space& space, const Point& p) {
  std::string out;
  for (size_t d = 0; d < space.dims.size() && d < p.size(); ++d) {
    if (space.dims[d].choices.size() < 2) continue;
    if (!out.empty()) out += ' ';
    out += space.dims[d].name + "=" + space.dims[d].choices[static_cast<size_t>(p[d])];
  }
  return out.empty() ? "(the only point)" : out;
}

Point point_at(const Space& space, int64_t index) {
  Point p(space.dims.size(), 0);
  for (size_t d = space.dims.size(); d-- > 0;) {
    const auto k = static_cast<int64_t>(space.dims[d].choices.size());
    p[d] = static_cast<int>(index % k);
    index /= k;
  }
  return p;
}

std::vector<Rung> halving_schedule(int configs, int dev_items, int min_items) {
  std::vector<Rung> rungs;
  if (configs < 1 || dev_items < 1) return rungs;
  if (min_items <= 0) {
    int halvings = 0;
    for (int c = configs; c > 1; c = (c + 1) / 2) ++halvings;
    min_items = std::max(1, dev_items >> std::min(halvings, 30));
  }
  int items = std::min(min_items, dev_items);
  for (int c = configs;; c = (c + 1) / 2) {
    rungs.push_back({c, items});
    if (c == 1) break;
    items = std::min(dev_items, items * 2);
  }
  return rungs;
}

std::vector<Trial> SearchResult::ranked() const {
  // The trial on the most items stands for its point.
  std::map<Point, size_t> best;
  for (size_t i = 0; i < trials.size(); ++i) {
    auto [it, fresh] = best.emplace(trials[i].point, i);
    if (!fresh && trials[i].items > trials[it->second].items) it->second = i;
  }
  std::vector<size_t> order;
  for (const auto& [point, i] : best) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Trial& x = trials[a];
    const Trial& y = trials[b];
    if (x.items != y.items) return x.items > y.items;
    if (x.score != y.score) return x.score > y.score;
    if (x.calls != y.calls) return x.calls < y.calls;
    return a < b;
  });
  std::vector<Trial> out;
  for (size_t i : order) out.push_back(trials[i]);
  return out;
}

namespace {

// One search: the evaluation cache, the budget and the trial log.
class Search {
 public:
  Search(const Space& space, Evaluator& ev, const SearchOptions& o)
      : space_(space), ev_(ev), o_(o), rng_(o.seed) {}

  // The trial for `p` on `items` items, evaluating it if needed; nullptr when
  // the budget does not allow the evaluation (the search is then over).
  const Trial* eval(const Point& p, int items, int rung = 0) {
    if (stopped_) return nullptr;
    if (o_.max_calls_per_item > 0 && ev_.calls_per_item(p) > o_.max_calls_per_item) {
      // ITAS step 3: over the per-item cap scores -1, unevaluated.
      auto it = over_cap_.find(p);
      if (it != over_cap_.end()) return &result_.trials[it->second];
      Trial t;
      t.point = p;
      t.over_cap = true;
      t.rung = rung;
      result_.trials.push_back(t);
      over_cap_.emplace(p, result_.trials.size() - 1);
      return &result_.trials.back();
    }
    auto key = std::make_pair(p, items);
    if (auto it = cache_.find(key); it != cache_.end()) return &result_.trials[it->second];
    const int64_t predicted = ev_.predicted_calls(p, items);
    if (result_.spent + predicted > o_.budget_calls) {
      stop("budget: the next evaluation (" + describe(space_, p) + " on " + std::to_string(items) +
           " items, about " + std::to_string(predicted) + " calls) would exceed " +
           std::to_string(o_.budget_calls) + " calls");
      result_.budget_stopped = true;
      return nullptr;
    }
    Evaluation e = ev_.evaluate(p, items);
    if (e.fatal) {
      result_.spent += e.calls;
      fatal_ = e.error;
      stop("evaluation failed: " + e.error);
      return nullptr;
    }
    Trial t;
    t.point = p;
    t.items = items;
    t.score = e.error.empty() ? e.score : -1;
    t.calls = e.calls;
    t.error = e.error;
    t.rung = rung;
    result_.spent += e.calls;
    result_.trials.push_back(std::move(t));
    cache_.emplace(key, result_.trials.size() - 1);
    return &result_.trials.back();
  }

  void stop(std::string why) {
    if (stopped_) return;
    stopped_ = true;
    result_.stop_reason = std::move(why);
  }
  bool stopped() const { return stopped_; }
  const std::optional<std::string>& fatal() const { return fatal_; }

  // Up to `count` distinct points in a seeded random order.
  std::vector<Point> random_points(int64_t count) {
    const int64_t n = space_.size();
    count = std::min(count, n);
    std::vector<Point> out;
    if (n <= 65536) {
      // Small space: a seeded Fisher-Yates shuffle of all grid positions.
      std::vector<int64_t> idx(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
      for (int64_t i = n - 1; i > 0; --i)
        std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(rng_() % static_cast<uint64_t>(i + 1))]);
      for (int64_t i = 0; i < count; ++i) out.push_back(point_at(space_, idx[static_cast<size_t>(i)]));
      return out;
    }
    // Large space: independent draws per dimension, duplicates redrawn.
    std::set<Point> seen;
    while (static_cast<int64_t>(out.size()) < count) {
      Point p(space_.dims.size());
      for (size_t d = 0; d < p.size(); ++d)
        p[d] = static_cast<int>(rng_() % space_.dims[d].choices.size());
      if (seen.insert(p).second) out.push_back(std::move(p));
    }
    return out;
  }

  SearchResult finish() {
    if (!stopped_) result_.stop_reason = "search complete";
    return std::move(result_);
  }

  const Space& space_;
  Evaluator& ev_;
  const SearchOptions& o_;

 private:
  std::mt19937_64 rng_;  // its output sequence is fixed by the standard
  SearchResult result_;
  std::map<std::pair<Point, int>, size_t> cache_;
  std::map<Point, size_t> over_cap_;
  bool stopped_ = false;
  std::optional<std::string> fatal_;
};

// Random search (ITAS random_search): distinct points in seeded random order.
void random_search(Search& s) {
  const int64_t n = s.space_.size();
  const int64_t count = s.o_.trials > 0 ? std::min(s.o_.trials, n) : n;
  // Bounded draw: a huge space with no trial limit is capped by the budget.
  for (const Point& p : s.random_points(std::min<int64_t>(count, 1 << 20)))
    if (!s.eval(p, s.ev_.dev_items())) return;
}

// Grid search: every point in odometer order (last dimension fastest).
void grid_search(Search& s) {
  const int64_t n = s.space_.size();
  for (int64_t i = 0; i < n; ++i)
    if (!s.eval(point_at(s.space_, i), s.ev_.dev_items())) return;
}

// Greedy search: coordinate ascent from the start point. Each pass tries
// every other choice of each dimension in turn and moves to the best one
// when it scores strictly higher; the search ends after a pass that
// improved nothing.
void greedy_search(Search& s) {
  const int items = s.ev_.dev_items();
  Point cur = s.o_.start ? *s.o_.start : Point(s.space_.dims.size(), 0);
  const Trial* t = s.eval(cur, items);
  if (!t) return;
  double best = t->score;
  for (bool improved = true; improved;) {
    improved = false;
    for (size_t d = 0; d < s.space_.dims.size(); ++d) {
      Point best_point = cur;
      for (int c = 0; c < static_cast<int>(s.space_.dims[d].choices.size()); ++c) {
        if (c == cur[d]) continue;
        Point q = cur;
        q[d] = c;
        const Trial* tq = s.eval(q, items);
        if (!tq) return;
        if (tq->score > best) {
          best = tq->score;
          best_point = q;
        }
      }
      if (best_point != cur) {
        cur = best_point;
        improved = true;
      }
    }
  }
}

// Successive halving: many points on few items, the better half on twice
// the items, until one point is left.
void halving_search(Search& s) {
  const int64_t n = s.space_.size();
  const int configs = static_cast<int>(
      std::min<int64_t>(s.o_.halving_configs > 0 ? s.o_.halving_configs : 16, n));
  const auto rungs = halving_schedule(configs, s.ev_.dev_items(), s.o_.halving_min_items);
  std::vector<Point> alive = configs == n ? std::vector<Point>{} : s.random_points(configs);
  if (configs == n)
    for (int64_t i = 0; i < n; ++i) alive.push_back(point_at(s.space_, i));
  for (size_t r = 0; r < rungs.size(); ++r) {
    std::vector<std::pair<double, Point>> scored;
    for (const Point& p : alive) {
      const Trial* t = s.eval(p, rungs[r].items, static_cast<int>(r));
      if (!t) return;
      scored.emplace_back(t->score, p);
    }
    if (r + 1 == rungs.size()) break;
    std::stable_sort(scored.begin(), scored.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    alive.clear();
    for (int i = 0; i < rungs[r + 1].configs && i < static_cast<int>(scored.size()); ++i)
      alive.push_back(scored[static_cast<size_t>(i)].second);
  }
}

}  // namespace

Result<SearchResult> run_search(const Space& space, Evaluator& evaluator, const SearchOptions& options) {
  auto bad = [](std::string m) { return Error{ErrorCode::invalid_argument, "search: " + std::move(m)}; };
  if (options.budget_calls <= 0) return bad("the budget must be a positive number of calls");
  for (const auto& d : space.dims)
    if (d.choices.empty()) return bad("dimension '" + d.name + "' has no choices");
  if (evaluator.dev_items() < 1) return bad("no dev items");
  if (options.start) {
    if (options.start->size() != space.dims.size()) return bad("the start point has the wrong number of dimensions");
    for (size_t d = 0; d < space.dims.size(); ++d)
      if ((*options.start)[d] < 0 || (*options.start)[d] >= static_cast<int>(space.dims[d].choices.size()))
        return bad("the start point is out of range in '" + space.dims[d].name + "'");
  }
  Search s(space, evaluator, options);
  if (options.algorithm == "random") random_search(s);
  else if (options.algorithm == "grid") grid_search(s);
  else if (options.algorithm == "greedy") greedy_search(s);
  else if (options.algorithm == "halving") halving_search(s);
  else return bad("unknown algorithm '" + options.algorithm + "' (random, grid, greedy, halving)");
  if (s.fatal()) return Error{ErrorCode::invalid_argument, *s.fatal()};
  return s.finish();
}

}  // namespace troupe::workflows::search
