// Shared by the workflow tests: run a workflow text over items in-process
// and read back what the store holds.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "memory/store.hpp"
#include "support/temp_dir.hpp"
#include "workflows/inputs.hpp"
#include "workflows/runner.hpp"
#include "workflows/workflow.hpp"

namespace troupe::testing {

struct Harness {
  TempDir dir;
  std::shared_ptr<memory::Store> store;
  std::vector<actors::RunOutcome> outcomes;

  Harness() {
    auto s = memory::Store::open(dir.file("store"));
    if (!s.ok()) throw std::runtime_error(s.error().describe());
    store = std::shared_ptr<memory::Store>(std::move(s.value()));
  }

  // Writes `fixture` and a workflow (`workflow_yaml` with FIXTURE replaced
  // by its path), then runs `items`.
  Result<workflows::RunSummary> run(const std::string& workflow_yaml, const std::string& fixture,
                                    std::vector<actors::RunInput> items,
                                    std::shared_ptr<engine::Backend> backend = nullptr) {
    write_file(dir.file("fixture.yaml"), fixture);
    std::string text = workflow_yaml;
    auto pos = text.find("FIXTURE");
    if (pos != std::string::npos) text.replace(pos, 7, dir.file("fixture.yaml"));
    write_file(dir.file("wf.yaml"), text);
    auto wf = workflows::load_workflow(dir.file("wf.yaml"));
    if (!wf.ok()) return wf.error();
    workflows::RunnerOptions opts;
    opts.store = store;
    opts.backend = backend;
    auto runner = workflows::Runner::create(std::move(wf.value()), opts);
    if (!runner.ok()) return runner.error();
    workflows::VectorInputs inputs(std::move(items));
    return (*runner)->run(inputs, [this](const actors::RunOutcome& o, const workflows::RunSummary&) {
      outcomes.push_back(o);
    });
  }

  const actors::RunOutcome& outcome(const std::string& item) const {
    for (const auto& o : outcomes)
      if (o.item_id == item) return o;
    throw std::runtime_error("no outcome for " + item);
  }

  std::vector<memory::StepRecord> steps(const std::string& item) {
    auto r = store->read_steps(outcome(item).run_id);
    if (!r.ok()) throw std::runtime_error(r.error().describe());
    return *r;
  }

  std::vector<memory::PairRecord> pairs_of(const std::string& item) {
    std::vector<memory::PairRecord> out;
    std::string run = outcome(item).run_id;
    (void)store->for_each_pair([&](const memory::PairRecord& p) {
      if (p.run_id == run) out.push_back(p);
      return true;
    });
    return out;
  }
};

inline actors::RunInput item(std::string id, std::string question, std::optional<std::string> gold = std::nullopt) {
  actors::RunInput in;
  in.item_id = std::move(id);
  in.question = std::move(question);
  in.gold = std::move(gold);
  in.raw_json = "{}";
  return in;
}

}  // namespace troupe::testing
