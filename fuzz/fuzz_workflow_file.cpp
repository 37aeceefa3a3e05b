// libFuzzer target for the workflow-file loader (workflows/workflow_file.cpp)
// and the bounded YAML reader under it (common/yaml_read.hpp).
// Properties checked on every input:
//   - read_yaml_documents() and parse_workflow() return, never crash, throw,
//     hang or allocate past the fuzzer's -malloc_limit_mb;
//   - when the reader accepts the text, every document walked with its
//     aliases followed has at most YamlLimits::max_nodes nodes, max_depth
//     levels and max_scalar_bytes of scalar text (the reader's contract:
//     whatever the loader walks afterwards is bounded);
//   - every error from either names "fuzz.yaml:LINE:COL: " with LINE and COL
//     positive and LINE no further than the text's last line + 1;
//   - parsing the same text twice gives the same result.
// Build and run: see fuzz/README.md.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

#include "common/yaml_read.hpp"
#include "workflows/workflow.hpp"

namespace {

[[noreturn]] void broken(const char* what, const std::string& detail) {
  std::fprintf(stderr, "property violated: %s: %s\n", what, detail.substr(0, 2000).c_str());
  std::abort();
}

struct Walk {
  const troupe::YamlLimits& limits;
  uint64_t nodes = 0;
  uint64_t bytes = 0;

  void visit(const YAML::Node& n, int depth) {
    if (++nodes > limits.max_nodes) broken("expanded nodes over the limit", std::to_string(nodes));
    if (n.IsScalar()) {
      bytes += n.Scalar().size();
      if (bytes > limits.max_scalar_bytes) broken("expanded scalar bytes over the limit", std::to_string(bytes));
      return;
    }
    if (!n.IsSequence() && !n.IsMap()) return;
    if (depth + 1 > limits.max_depth) broken("nesting over the limit", std::to_string(depth + 1));
    if (n.IsSequence()) {
      for (const auto& item : n) visit(item, depth + 1);
    } else {
      for (auto it = n.begin(); it != n.end(); ++it) {
        visit(it->first, depth + 1);
        visit(it->second, depth + 1);
      }
    }
  }
};

void check_location(const std::string& message, const std::string& text) {
  static const std::regex where("^fuzz\\.yaml:([0-9]+):([0-9]+): .+", std::regex::extended);
  std::smatch m;
  if (!std::regex_search(message, m, where)) broken("error without fuzz.yaml:LINE:COL", message);
  long line = std::strtol(m[1].str().c_str(), nullptr, 10);
  long col = std::strtol(m[2].str().c_str(), nullptr, 10);
  long lines = 1;
  for (char c : text) lines += c == '\n' || c == '\r';
  if (line < 1 || col < 1 || line > lines + 1) broken("error location outside the text", message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  troupe::YamlLimits limits;
  auto docs = troupe::read_yaml_documents(text, "fuzz.yaml", limits);
  if (docs.ok()) {
    Walk walk{limits};
    for (const auto& d : *docs) walk.visit(d, 0);
  } else {
    check_location(docs.error().message, text);
  }

  auto wf = troupe::workflows::parse_workflow(text, "fuzz.yaml");
  auto again = troupe::workflows::parse_workflow(text, "fuzz.yaml");
  if (wf.ok() != again.ok()) broken("two parses disagree", text);
  if (!wf.ok()) {
    check_location(wf.error().message, text);
    if (wf.error().message != again.error().message) broken("two parses give different errors", wf.error().message);
  } else if (wf->text_hash != again->text_hash || wf->pipeline != again->pipeline) {
    broken("two parses give different workflows", text);
  }
  return 0;
}
