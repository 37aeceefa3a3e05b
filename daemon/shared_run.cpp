#include "daemon/shared_run.hpp"

#include <simdjson.h>

#include "common/ids.hpp"
#include "common/json_writer.hpp"
#include "engine/json_read.hpp"

namespace troupe::daemon {

namespace json = engine::json;

std::string encode_shared_run(const SharedRun& r) {
  std::string out;
  JsonWriter w(out);
  w.begin_object().field("run_id", r.run_id);
  if (!r.workflow.empty()) w.field("workflow", r.workflow);
  if (!r.workflow_yaml.empty()) w.field("workflow_yaml", r.workflow_yaml);
  w.field("backend", r.backend).field("input", r.input_json).field("item_id", r.item_id).field("gold", r.gold);
  if (!r.idempotency_key.empty()) w.field("idempotency_key", r.idempotency_key);
  w.field("created_ms", static_cast<long long>(r.created_ms)).end_object();
  return out;
}

Result<SharedRun> parse_shared_run(const std::string& body) {
  simdjson::dom::parser parser;
  auto root = json::parse(parser, body, "shared run");
  if (!root.ok()) return Error{ErrorCode::parse, root.error().message};
  auto obj = json::as_object(*root, "shared run");
  if (!obj.ok()) return Error{ErrorCode::parse, obj.error().message};
  SharedRun r;
  bool has_input = false;
  for (auto [key, value] : *obj) {
    std::string k(key);
    if (k == "created_ms") {
      auto v = json::as_int(value, k);
      if (!v.ok()) return Error{ErrorCode::parse, "shared run: " + v.error().message};
      r.created_ms = *v;
      continue;
    }
    std::string* dst = k == "run_id"            ? &r.run_id
                       : k == "workflow"        ? &r.workflow
                       : k == "workflow_yaml"   ? &r.workflow_yaml
                       : k == "backend"         ? &r.backend
                       : k == "input"           ? &r.input_json
                       : k == "item_id"         ? &r.item_id
                       : k == "gold"            ? &r.gold
                       : k == "idempotency_key" ? &r.idempotency_key
                                                : nullptr;
    if (!dst) return Error{ErrorCode::parse, "shared run: unknown field '" + k + "'"};
    auto v = json::as_string(value, k);
    if (!v.ok()) return Error{ErrorCode::parse, "shared run: " + v.error().message};
    *dst = std::string(*v);
    if (k == "input") has_input = true;
  }
  if (r.run_id.empty()) return Error{ErrorCode::parse, "shared run: missing run_id"};
  if (!has_input) return Error{ErrorCode::parse, "shared run " + r.run_id + ": missing input"};
  if (r.workflow.empty() == r.workflow_yaml.empty())
    return Error{ErrorCode::parse, "shared run " + r.run_id + ": needs exactly one of workflow and workflow_yaml"};
  return r;
}

Status check_idempotency_key(const std::string& key) {
  if (key.empty() || key.size() > 200)
    return Error{ErrorCode::invalid_argument, "idempotency_key: expected 1 to 200 characters"};
  for (unsigned char c : key)
    if (c < 0x21 || c > 0x7e)
      return Error{ErrorCode::invalid_argument, "idempotency_key: only printable ASCII without spaces is allowed"};
  return {};
}

std::string keyed_run_id(const std::string& key, size_t n) {
  return "run-k" + sha256_hex(key + "#" + std::to_string(n)).substr(0, 24);
}

}  // namespace troupe::daemon
