// The loader's trust hook (workflow.hpp, LoadOptions): untrusted text (the
// daemon's inline workflows) may not name programs, files or environment
// variables; trusted text with a base_dir may name files only inside it;
// read_param_file() reads only bounded regular files inside that folder.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "workflows/workflow.hpp"

using namespace troupe;
using namespace troupe::workflows;
namespace fs = std::filesystem;

namespace {

const char* kBackend = "backend: {kind: http, url: 'http://127.0.0.1:1', model: m}\n";

LoadOptions untrusted() {
  LoadOptions o;
  o.trusted = false;
  return o;
}

std::string refused(const std::string& text) {
  auto wf = parse_workflow(text, "inline.yaml", untrusted());
  REQUIRE_FALSE(wf.ok());
  // Trusted, the same text loads.
  CHECK(parse_workflow(text, "inline.yaml").ok());
  return wf.error().message;
}

struct Folder {
  fs::path root;
  Folder() {
    std::string tmpl = (fs::temp_directory_path() / "troupe-trust-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()));
    root = tmpl;
    fs::create_directories(root / "workflows");
  }
  ~Folder() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string dir() const { return (root / "workflows").string(); }
  LoadOptions options() const {
    LoadOptions o;
    o.base_dir = dir();
    return o;
  }
  Result<Workflow> archon(const std::string& config) const {
    return parse_workflow(std::string("pipeline: archon\n") + kBackend + "params:\n  config: " + config + "\n",
                          dir() + "/w.yaml", options());
  }
};

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

}  // namespace

TEST_CASE("untrusted workflows may not name programs, files or environment variables: the key's file:line:col",
          "[workflow_file][trust]") {
  CHECK(refused(std::string("pipeline: iad\n") + kBackend + "params:\n  verifier: command\n  verifier_command: 'x'\n") ==
        "inline.yaml:4:13: params.verifier: 'command': a workflow submitted inline may not name a program to run; "
        "put the workflow in the daemon's workflows folder and submit it by name");
  CHECK_THAT(refused(std::string("pipeline: iad\n") + kBackend + "params:\n  verifier_command: 'touch /tmp/x'\n"),
             Catch::StartsWith("inline.yaml:4:3: params.verifier_command: a workflow submitted inline may not name a "
                               "program to run"));
  CHECK_THAT(refused(std::string("pipeline: linc\n") + kBackend + "params:\n  prover: /bin/sh\n"),
             Catch::StartsWith("inline.yaml:4:3: params.prover: a workflow submitted inline may not name a program"));
  CHECK_THAT(refused(std::string("pipeline: archon\n") + kBackend + "params:\n  config: /etc/passwd\n"),
             Catch::StartsWith("inline.yaml:4:3: params.config: a workflow submitted inline may not name a file"));
  for (const char* key : {"fixture: r.yaml", "model_file: m.gguf", "tokenizer: t.bin", "api_key_env: HOME"}) {
    std::string text = std::string("pipeline: spoc\nbackend: {kind: http, url: 'http://h', model: m, ") + key + "}\n";
    CHECK_THAT(refused(text), Catch::Contains("inline.yaml:2:") && Catch::Contains("may not name files or environment"));
  }
  // Everything else is allowed.
  CHECK(parse_workflow(std::string("pipeline: iad\n") + kBackend + "params:\n  verifier: exact\n  candidates: 2\n",
                       "inline.yaml", untrusted())
            .ok());
}

TEST_CASE("a trusted workflow with a base folder names files only inside it, and the error does not say what exists",
          "[workflow_file][trust]") {
  Folder f;
  write(f.root / "outside.json", "{}");
  write(fs::path(f.dir()) / "inside.json", "{\"layers\": []}");
  fs::create_symlink(f.root / "outside.json", fs::path(f.dir()) / "escape.json");
  CHECK(f.archon("inside.json").ok());
  auto existing = f.archon("../outside.json");
  auto missing = f.archon("../missing.json");
  auto link = f.archon("escape.json");
  auto absolute = f.archon("/etc/passwd");
  for (auto* r : {&existing, &missing, &link, &absolute}) {
    REQUIRE_FALSE(r->ok());
    CHECK(r->error().message == f.dir() + "/w.yaml:4:11: params.config: must name a file inside the workflows folder (" +
                                    f.dir() + ")");
  }
}

TEST_CASE("read_param_file reads bounded regular files only", "[workflow_file][trust]") {
  Folder f;
  fs::path dir = f.dir();
  write(dir / "ok.json", "{\"layers\": []}");
  write(dir / "big.json", std::string(2000, 'x'));
  REQUIRE(::mkfifo((dir / "fifo.json").c_str(), 0600) == 0);
  fs::create_symlink("/dev/zero", dir / "zero.json");
  auto ok = f.archon("ok.json");
  REQUIRE(ok.ok());
  auto text = read_param_file(*ok, "config", 1000);
  REQUIRE(text.ok());
  CHECK(*text == "{\"layers\": []}");
  auto big = f.archon("big.json");
  REQUIRE(big.ok());
  CHECK_THAT(read_param_file(*big, "config", 1000).error().message,
             Catch::EndsWith("big.json is larger than the limit of 1000 bytes"));
  // A FIFO neither blocks nor is read.
  auto fifo = f.archon("fifo.json");
  REQUIRE(fifo.ok());
  CHECK_THAT(read_param_file(*fifo, "config", 1000).error().message, Catch::EndsWith("is not a regular file"));
  // A link to /dev/zero leaves the folder.
  CHECK_FALSE(f.archon("zero.json").ok());
  // Without a base folder (troupe run), /dev/zero is still not read.
  auto cli = parse_workflow(std::string("pipeline: archon\n") + kBackend + "params:\n  config: /dev/zero\n", "w.yaml");
  REQUIRE(cli.ok());
  CHECK_THAT(read_param_file(*cli, "config", 1000).error().message, Catch::EndsWith("/dev/zero is not a regular file"));
}
