// Internal to the workflow-file loader (troupe_workflow_file): whether a
// path stays inside a folder, shared by the loader's trust hook and
// read_param_file().
//
// Callers may rely on: symlinks and `..` are resolved (weakly_canonical)
// on both sides before comparing whole path components; the folder itself
// is not "inside"; any filesystem error answers false. It never throws.
#pragma once

#include <filesystem>
#include <string>

namespace troupe::workflows {

bool path_inside_folder(const std::filesystem::path& path, const std::string& folder);

}  // namespace troupe::workflows
