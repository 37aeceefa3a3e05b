#include "daemon/workflow_catalog.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/yaml_read.hpp"

namespace troupe::daemon {

namespace fs = std::filesystem;

bool valid_workflow_name(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

// A workflow file is a few KB; bigger is a mistake.
constexpr uintmax_t kMaxWorkflowFileBytes = 1u << 20;

workflows::LoadOptions WorkflowCatalog::load_options() const {
  workflows::LoadOptions o;
  o.trusted = true;
  o.base_dir = dir_;
  return o;
}

Result<WorkflowCatalog> WorkflowCatalog::load(const std::string& dir) {
  WorkflowCatalog c;
  std::error_code canon_ec;
  fs::path canonical = fs::weakly_canonical(fs::absolute(dir, canon_ec), canon_ec);
  c.dir_ = canon_ec ? dir : canonical.string();
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return Error{ErrorCode::io, dir + ": cannot list the workflows folder: " + ec.message()};
  for (const auto& e : it) {
    std::string ext = e.path().extension().string();
    if (!e.is_regular_file() || (ext != ".yaml" && ext != ".yml")) continue;
    CatalogEntry entry;
    entry.name = e.path().stem().string();
    entry.path = fs::absolute(e.path()).lexically_normal().string();
    if (!valid_workflow_name(entry.name)) continue;
    std::error_code size_ec;
    if (fs::file_size(e.path(), size_ec) > kMaxWorkflowFileBytes) {
      entry.error = entry.path + ": larger than " + std::to_string(kMaxWorkflowFileBytes) + " bytes";
      c.entries_.emplace(entry.name, std::move(entry));
      continue;
    }
    std::ifstream in(entry.path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    entry.text = ss.str();
    auto wf = workflows::parse_workflow(entry.text, entry.path, c.load_options());
    if (!wf.ok()) {
      // A workflow without a backend is fine here: the daemon supplies one.
      NamedBackend probe;
      probe.yaml = "{kind: scripted, fixture: none.yaml}";
      auto bound = bind_workflow(entry.text, entry.path, probe, c.load_options());
      if (!bound.ok()) entry.error = bound.error().message;
    }
    c.entries_.emplace(entry.name, std::move(entry));
  }
  return c;
}

Result<const CatalogEntry*> WorkflowCatalog::find(const std::string& name) const {
  if (!valid_workflow_name(name))
    return Error{ErrorCode::invalid_argument,
                 "workflow '" + name +
                     "': a workflow is named by its file name in the workflows folder (letters, digits, '_', '-', "
                     "'.'; no paths)"};
  auto it = entries_.find(name);
  if (it == entries_.end()) return Error{ErrorCode::not_found, "no workflow named '" + name + "'"};
  if (!it->second.error.empty()) return Error{ErrorCode::parse, it->second.error};
  return &it->second;
}

std::vector<std::string> WorkflowCatalog::names() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : entries_)
    if (e.error.empty()) out.push_back(name);
  return out;
}

Result<BoundWorkflow> bind_workflow(const std::string& text, const std::string& where, const NamedBackend& backend,
                                    const workflows::LoadOptions& options) {
  auto read = read_yaml(text, where);  // bounded (common/yaml_read.hpp): the text may come over HTTP
  if (!read.ok()) return read.error();
  YAML::Node root = *read;
  if (!root || !root.IsMap()) {
    // Let the loader describe what is wrong.
    auto wf = workflows::parse_workflow(text, where, options);
    if (!wf.ok()) return wf.error();
    return Error{ErrorCode::parse, where + ": expected a map"};
  }
  // Problems in the workflow itself, with the lines as the client wrote them.
  // Untrusted text is checked with a stand-in backend that names no file
  // (the daemon's own backend section may; it is not the client's).
  std::string checked = text;
  if (!root["backend"])
    checked += "\nbackend: " +
               (options.trusted ? backend.yaml : std::string("{kind: http, url: \"http://127.0.0.1\", model: daemon}")) +
               "\n";
  auto own = workflows::parse_workflow(checked, where, options);
  if (!own.ok()) return own.error();

  root["backend"] = YAML::Load(backend.yaml);
  YAML::Emitter out;
  out << root;
  BoundWorkflow b;
  b.text = std::string(out.c_str()) + "\n";
  // The client's part passed `options` above; the backend is the daemon's.
  workflows::LoadOptions bound_options;
  bound_options.base_dir = options.base_dir;
  auto wf = workflows::parse_workflow(b.text, where, bound_options);
  if (!wf.ok()) return wf.error();
  b.workflow = std::move(wf.value());
  return b;
}

}  // namespace troupe::daemon
