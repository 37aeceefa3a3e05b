// Test helpers over engine::Backend's callback API (submit + one callback).
// - submit_future(b, r): that one callback's result as a future.
// - generate_now(b, r): submits and waits; the Result as the backend gave it.
#pragma once

#include <future>
#include <memory>

#include "engine/backend.hpp"

namespace troupe::testing {

inline std::future<Result<engine::GenerateResult>> submit_future(engine::Backend& b, engine::GenerateRequest r) {
  auto p = std::make_shared<std::promise<Result<engine::GenerateResult>>>();
  auto f = p->get_future();
  b.submit(std::move(r), [p](Result<engine::GenerateResult> res) { p->set_value(std::move(res)); });
  return f;
}

inline Result<engine::GenerateResult> generate_now(engine::Backend& b, engine::GenerateRequest r) {
  return submit_future(b, std::move(r)).get();
}

}  // namespace troupe::testing
