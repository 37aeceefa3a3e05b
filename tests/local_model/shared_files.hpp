// Paths to the shared model files (../shared/models), or "" when the
// shared folder is absent (tests then WARN and return).
#pragma once

#include <filesystem>
#include <string>

namespace troupe::testing {

inline std::string shared_model(const std::string& relative) {
  const std::filesystem::path p = std::filesystem::path(TROUPE_SHARED_DIR) / "models" / relative;
  std::error_code ec;
  return std::filesystem::exists(p, ec) ? p.string() : std::string();
}

}  // namespace troupe::testing
