// File params of a workflow (read_param_file, declared in workflow.hpp) and
// the folder check the loader's trust hook shares with it.
#include "workflows/param_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "workflows/workflow.hpp"

namespace troupe::workflows {

bool path_inside_folder(const std::filesystem::path& path, const std::string& folder) {
  std::error_code ec;
  std::filesystem::path base = std::filesystem::weakly_canonical(std::filesystem::absolute(folder, ec), ec);
  if (ec) return false;
  std::filesystem::path real = std::filesystem::weakly_canonical(path, ec);
  if (ec) return false;
  auto b = base.begin(), r = real.begin();
  for (; b != base.end(); ++b, ++r)
    if (r == real.end() || *b != *r) return false;
  return r != real.end();
}

Result<std::string> read_param_file(const Workflow& wf, const std::string& key, size_t max_bytes) {
  auto it = wf.params.find(key);
  if (it == wf.params.end()) return Error(ErrorCode::not_found, wf.file + ": params." + key + " is not set");
  const ParamValue* v = &it->second;
  std::string where =
      wf.file + ":" + std::to_string(v->line) + ":" + std::to_string(v->col) + ": params." + key + ": ";
  if (!wf.base_dir.empty() && !path_inside_folder(v->text, wf.base_dir))
    return Error(ErrorCode::invalid_argument, where + "must name a file inside the workflows folder (" + wf.base_dir + ")");
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  int fd = ::open(v->text.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Error(ErrorCode::not_found, where + "cannot open " + v->text + ": " + std::strerror(errno));
  struct stat st{};
  std::string text;
  Error error;
  bool ok = false;
  if (::fstat(fd, &st) != 0) {
    error = Error(ErrorCode::io, where + "cannot read " + v->text + ": " + std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    error = Error(ErrorCode::invalid_argument, where + v->text + " is not a regular file");
  } else if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    error = Error(ErrorCode::invalid_argument, where + v->text + " is larger than the limit of " +
                                                   std::to_string(max_bytes) + " bytes");
  } else {
    ok = true;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ok = false;
        error = Error(ErrorCode::io, where + "cannot read " + v->text + ": " + std::strerror(errno));
        break;
      }
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > max_bytes) {  // it grew while being read
        ok = false;
        error = Error(ErrorCode::invalid_argument, where + v->text + " is larger than the limit of " +
                                                       std::to_string(max_bytes) + " bytes");
        break;
      }
    }
  }
  ::close(fd);
  if (!ok) return error;
  return text;
}

}  // namespace troupe::workflows
