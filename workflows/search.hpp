// Architecture search over a discrete space (Archon's ITAS, pipelines.md
// §4(e) step 4): random, grid, greedy (coordinate ascent) and successive
// halving, driven against an Evaluator under a total budget of model calls.
//
// Callers may rely on:
// - A Space is a list of dimensions, each a non-empty list of choices; a
//   Point picks one choice index per dimension. The algorithms know nothing
//   about what the dimensions mean, so they are tested with a fake Evaluator.
// - Budget: before every evaluation the search asks the evaluator how many
//   calls it will make (predicted_calls); when spent + predicted would exceed
//   the budget the search stops there (it does not look for a cheaper point),
//   sets budget_stopped, and reports what was actually spent (the sum of the
//   calls each evaluation reports).
// - ITAS's cap: a point whose calls_per_item exceeds max_calls_per_item (when
//   > 0) scores -1 without being evaluated and costs nothing.
// - Determinism: the same Space, options and evaluator scores give the same
//   trials in the same order (random draws come from `seed` only).
// - A point is evaluated at most once per item count (results are reused).
// - An evaluation that fails fatally (Evaluation::fatal) ends the search:
//   run_search() returns that error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace troupe::workflows::search {

struct Dimension {
  std::string name;
  std::vector<std::string> choices;  // as written, for tables and files
};

struct Space {
  std::vector<Dimension> dims;
  // Number of points (saturates at INT64_MAX).
  int64_t size() const;
};

using Point = std::vector<int>;  // a choice index per dimension

// "name=choice ..." for the dimensions with more than one choice.
std::string describe(const Space& space, const Point& p);

struct Evaluation {
  double score = -1;   // in [0, 1]; -1 = not scored
  int64_t calls = 0;   // model calls actually made
  std::string error;   // non-empty: the evaluation failed (score -1)
  bool fatal = false;  // the failure is not the point's (no backend, no pipeline): stop the search
};

class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // Dev items available.
  virtual int dev_items() const = 0;
  // Model calls one item of `p` makes when nothing is retried.
  virtual int64_t calls_per_item(const Point& p) const = 0;
  // Calls an evaluation of `p` on `items` items is expected to make
  // (scoring calls included).
  virtual int64_t predicted_calls(const Point& p, int items) const = 0;
  // Scores `p` on the first `items` dev items.
  virtual Evaluation evaluate(const Point& p, int items) = 0;
};

struct SearchOptions {
  std::string algorithm = "greedy";  // random | grid | greedy | halving
  uint64_t seed = 1;
  int64_t budget_calls = 0;          // total over all evaluations; must be > 0
  int64_t max_calls_per_item = 0;    // ITAS maximum_inference_calls; 0 = no cap
  int64_t trials = 0;                // random: points to try (0 = until budget or space exhausted)
  std::optional<Point> start;        // greedy: the start point (default: first choice of every dimension)
  int halving_configs = 0;           // halving: points in the first rung (0 = min(size, 16))
  int halving_min_items = 0;         // halving: items in the first rung (0 = max(1, dev / 2^(rungs-1)))
};

struct Trial {
  Point point;
  int items = 0;          // dev items it was scored on (0 = over the cap, not run)
  double score = -1;
  int64_t calls = 0;
  bool over_cap = false;  // calls per item above max_calls_per_item: score -1 (ITAS)
  std::string error;
  int rung = 0;           // halving: the rung (0-based); 0 otherwise
};

struct SearchResult {
  std::vector<Trial> trials;  // in the order they were evaluated
  int64_t spent = 0;          // calls, summed over trials
  bool budget_stopped = false;
  std::string stop_reason;    // why the search ended, in words
  // One row per distinct point, best first: the trial on the most items
  // (halving survivors first), then score, then fewer calls, then the
  // earlier trial.
  std::vector<Trial> ranked() const;
};

// Successive halving's rungs: {points, items} pairs. Rung 0 scores `configs`
// points on `min_items` items; each next rung keeps ceil(half) of the points
// and doubles the items (capped at dev_items), until one point is left.
struct Rung {
  int configs = 0;
  int items = 0;
};
std::vector<Rung> halving_schedule(int configs, int dev_items, int min_items);

// The point at odometer position `index` (last dimension fastest): grid order.
Point point_at(const Space& space, int64_t index);

// Runs options.algorithm. An unknown algorithm, a budget <= 0, an empty
// dimension or a start point out of range is an ErrorCode::invalid_argument
// error and nothing is evaluated.
Result<SearchResult> run_search(const Space& space, Evaluator& evaluator, const SearchOptions& options);

}  // namespace troupe::workflows::search
