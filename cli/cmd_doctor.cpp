// troupe doctor: what is installed or missing, and how to fix it.
#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "cli/commands.hpp"
#include "engine/local/device.hpp"
#include "engine/scripted/scripted_backend.hpp"
#include "memory/interrupted_runs.hpp"
#include "memory/store.hpp"
#include "workflows/runner.hpp"
#include "workflows/workflow.hpp"

namespace troupe::cli {
namespace {

struct DoctorArgs {
  std::string db = "troupe.db";
  std::vector<std::string> workflows;
};

std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

void line(bool ok, const std::string& what, const std::string& detail, const std::string& fix = "") {
  std::printf("%s %-10s %s\n", ok ? "[ok]  " : "[FAIL]", what.c_str(), detail.c_str());
  if (!ok && !fix.empty()) std::printf("       fix: %s\n", fix.c_str());
}

void note(const std::string& what, const std::string& detail, const std::string& fix = "") {
  std::printf("[--]   %-10s %s\n", what.c_str(), detail.c_str());
  if (!fix.empty()) std::printf("       fix: %s\n", fix.c_str());
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

// GET <url>/v1/models; returns "" when reachable, else why not.
std::string probe(const std::string& base_url, const std::string& api_key_env) {
  CURL* h = curl_easy_init();
  if (!h) return "libcurl failed to initialise";
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() < 3 || url.compare(url.size() - 3, 3, "/v1") != 0) url += "/v1";
  url += "/models";
  curl_slist* headers = nullptr;
  if (!api_key_env.empty())
    if (const char* key = std::getenv(api_key_env.c_str()))
      headers = curl_slist_append(headers, ("Authorization: Bearer " + std::string(key)).c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  if (headers) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(h);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) return url + ": " + curl_easy_strerror(rc);
  if (status == 401 || status == 403) return url + ": HTTP " + std::to_string(status) + " (check the API key)";
  if (status >= 400) return url + ": HTTP " + std::to_string(status);
  return "";
}

// Whether another process holds the store's RocksDB lock (a writable open:
// `troupe run`, `troupe daemon`). Asks with F_GETLK, which takes nothing.
bool store_in_use(const std::string& db) {
  int fd = ::open((db + "/LOCK").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  bool held = ::fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

std::string some_ids(const std::vector<memory::RunRecord>& runs) {
  std::string out;
  size_t shown = 0;
  for (const auto& r : runs) {
    if (shown == 10) return out + " and " + std::to_string(runs.size() - shown) + " more";
    out += (out.empty() ? "" : ", ") + r.id;
    ++shown;
  }
  return out;
}

// Runs that no process will finish: `troupe run` runs left `running` by a
// process that stopped (while nobody holds the store), and those already
// marked interrupted. Returns the number of failures.
int check_runs(memory::Store& store, const std::string& db) {
  auto running = memory::find_running_runs(store);
  if (!running.ok()) {
    line(false, "runs", running.error().message);
    return 1;
  }
  std::vector<memory::RunRecord> interrupted;
  Status s = store.for_each_run(memory::RunStatus::interrupted, [&](const memory::RunRecord& r) {
    interrupted.push_back(r);
    return true;
  });
  if (!s.ok()) {
    line(false, "runs", s.error().message);
    return 1;
  }
  int failures = 0;
  bool in_use = store_in_use(db);
  if (!running->cli.empty() && !in_use) {
    line(false, "runs",
         std::to_string(running->cli.size()) + " run(s) left running by a troupe run process that stopped: " +
             some_ids(running->cli),
         "the next `troupe run --db " + db + "` marks them interrupted (their recorded steps are kept)");
    ++failures;
  } else if (!running->cli.empty()) {
    note("runs", std::to_string(running->cli.size()) + " run(s) running in a troupe run process that holds " + db);
  }
  if (!interrupted.empty())
    note("runs", std::to_string(interrupted.size()) + " run(s) interrupted (their troupe run process stopped): " +
                     some_ids(interrupted),
         "`troupe show --db " + db + " RUN` shows what each recorded; run their inputs again to finish them");
  if (!running->daemon.empty())
    note("runs", std::to_string(running->daemon.size()) + " daemon run(s) running" +
                     (in_use ? "" : "; troupe daemon resumes them on its next start"));
  if (failures == 0 && interrupted.empty() && running->cli.empty())
    line(true, "runs", "no run was left unfinished by a stopped troupe run");
  return failures;
}

int do_doctor(const DoctorArgs& a) {
  int failures = 0;
  // The store: an existing store must open; otherwise its folder must be writable.
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(a.db, ec)) {
    memory::StoreOptions o;
    o.read_only = true;
    o.create_if_missing = false;
    auto s = memory::Store::open(a.db, o);
    bool writable = access(a.db.c_str(), W_OK) == 0;
    if (s.ok() && writable) {
      line(true, "store", a.db + " opens (schema " + std::to_string((*s)->schema_version()) + ")");
      failures += check_runs(**s, a.db);
    } else if (!s.ok()) line(false, "store", s.error().message, "point --db at a troupe store or a new path"), ++failures;
    else line(false, "store", a.db + " is not writable", "chmod or choose another --db"), ++failures;
  } else {
    fs::path parent = fs::absolute(a.db, ec).parent_path();
    bool ok = access(parent.c_str(), W_OK) == 0;
    line(ok, "store", a.db + (ok ? " will be created in a writable folder" : ": folder " + parent.string() + " is not writable"),
         "choose a --db path in a writable folder");
    if (!ok) ++failures;
  }
  std::string eprover = find_in_path("eprover");
  if (!eprover.empty()) line(true, "eprover", eprover + " (the prover of the LINC pipeline and troupe prove)");
  else note("eprover", "not found; only the LINC pipeline and troupe prove need it", "sudo apt-get install eprover");
  // The local engine's devices: the CPU path's kernels, whether this build
  // has the CUDA backend, and each GPU it finds (or why none is usable).
  std::istringstream devices(engine::local::describe_devices());
  for (std::string d; std::getline(devices, d);) {
    const auto colon = d.find(": ");
    const bool cuda_missing = d.rfind("cuda", 0) == 0 && !engine::local::cuda_compiled();
    note(colon == std::string::npos ? "device" : d.substr(0, colon),
         colon == std::string::npos ? d : d.substr(colon + 2),
         cuda_missing ? "rebuild where the CUDA toolkit (nvcc) is installed to use --device cuda" : "");
  }
  for (const auto& path : a.workflows) {
    auto wf = workflows::load_workflow(path);
    if (!wf.ok()) {
      line(false, "workflow", wf.error().message, "fix the workflow file");
      ++failures;
      continue;
    }
    if (wf->backend.kind == workflows::BackendKind::http) {
      if (!wf->backend.api_key_env.empty() && !std::getenv(wf->backend.api_key_env.c_str())) {
        line(false, "backend", path + ": environment variable " + wf->backend.api_key_env + " is not set",
             "export " + wf->backend.api_key_env + "=...");
        ++failures;
      }
      std::string why = probe(wf->backend.url, wf->backend.api_key_env);
      if (why.empty()) line(true, "backend", path + ": " + wf->backend.url + " answers");
      else line(false, "backend", path + ": " + why, "start the server (vLLM, or `troupe serve`) or fix backend.url"), ++failures;
    } else if (wf->backend.kind == workflows::BackendKind::local) {
      auto b = workflows::make_backend(wf->backend);
      if (b.ok()) line(true, "backend", path + ": local model " + wf->backend.model_file + " loads");
      else line(false, "backend", b.error().message, "fix backend.model_file (troupe mkmodel makes a test model)"), ++failures;
    } else {
      auto fx = engine::ScriptedBackend::load_fixture(wf->backend.fixture);
      if (fx.ok()) line(true, "backend", path + ": scripted fixture " + wf->backend.fixture + " loads (test backend, not a model)");
      else line(false, "backend", fx.error().message, "fix the fixture file"), ++failures;
    }
  }
  if (a.workflows.empty()) note("backend", "no --workflow given: backends not checked");
  std::printf("%s\n", failures ? "problems found" : "all checks passed");
  return failures ? 1 : 0;
}

}  // namespace

void add_doctor_command(CLI::App& app, Action& action) {
  auto a = std::make_shared<DoctorArgs>();
  CLI::App* cmd = app.add_subcommand("doctor", "Check what troupe needs (store, prover, CUDA, backends)");
  cmd->add_option("--db", a->db, "Store path to check")->capture_default_str();
  cmd->add_option("--workflow,-w", a->workflows, "Check the backend of these workflow files");
  cmd->callback([a, &action] { action = [a] { return do_doctor(*a); }; });
}

}  // namespace troupe::cli
