#include "daemon/config.hpp"

#include "engine/serve/http_guard.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/yaml_read.hpp"

namespace troupe::daemon {
namespace {

namespace fs = std::filesystem;

const std::set<std::string> kTopKeys = {"listen",         "token",           "token_env",  "workflows_dir",
                                        "db",             "concurrency",     "max_body_bytes",
                                        "shutdown_grace_s", "http_threads",  "backends",   "default_backend",
                                        "openai",         "max_connections", "max_event_streams",
                                        "header_timeout_s", "read_timeout_s", "write_timeout_s",
                                        "nats"};

struct Fail {
  Error error;
};

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& what) const { fail(at.Mark(), what); }
  [[noreturn]] void fail(const YAML::Mark& m, const std::string& what) const {
    throw Fail{Error{ErrorCode::parse, where(m) + ": " + what}};
  }
  std::string where(const YAML::Mark& m) const {
    return file_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  }

  std::string str(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, key + ": expected a string");
    return n.Scalar();
  }
  int64_t integer(const YAML::Node& n, const std::string& key, int64_t min) const {
    int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v)) fail(n, key + ": expected an integer");
    if (v < min) fail(n, key + ": must be at least " + std::to_string(min) + ", got " + n.Scalar());
    return v;
  }
  double number(const YAML::Node& n, const std::string& key) const {
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v)) fail(n, key + ": expected a number");
    if (v < 0) fail(n, key + ": must not be negative");
    return v;
  }
  void keys(const YAML::Node& map, const std::string& where, const std::set<std::string>& allowed) const {
    if (!map.IsMap()) fail(map, where + ": expected a map");
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string k = it->first.as<std::string>();
      if (!allowed.count(k)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail(it->first, "unknown key '" + k + "'" + (where.empty() ? "" : " in " + where) + " (expected: " + list + ")");
      }
    }
  }
  std::string path(const YAML::Node& n, const std::string& key) const {
    fs::path p(str(n, key));
    if (p.empty()) fail(n, key + ": expected a path");
    if (p.is_relative()) p = fs::path(file_).parent_path() / p;
    std::error_code ec;
    fs::path a = fs::absolute(p, ec);
    return (ec ? p : a).lexically_normal().string();
  }

  NamedBackend backend(const std::string& name, const YAML::Node& node) const {
    if (!node.IsMap()) fail(node, "backends." + name + ": expected a map (a workflow file's backend section)");
    // The workflow loader checks the section: it is the same shape as a
    // workflow file's `backend`, with paths relative to this file.
    // Flow style throughout, whatever style the config was written in: the
    // text goes after "backend: " on one line.
    YAML::Node one_line = YAML::Clone(node);
    one_line.SetStyle(YAML::EmitterStyle::Flow);
    YAML::Emitter flow;
    flow << one_line;
    std::string text = "pipeline: spoc\nbackend: " + std::string(flow.c_str()) + "\n";
    auto wf = workflows::parse_workflow(text, file_);
    if (!wf.ok()) {
      std::string msg = wf.error().message;
      size_t cut = msg.find(": ", file_.size());
      if (msg.rfind(file_, 0) == 0 && cut != std::string::npos) msg = msg.substr(cut + 2);
      fail(node, "backends." + name + ": " + msg);
    }
    NamedBackend b;
    b.name = name;
    b.config = wf->backend;
    YAML::Node abs = YAML::Clone(node);
    abs.SetStyle(YAML::EmitterStyle::Flow);
    if (!b.config.fixture.empty()) abs["fixture"] = b.config.fixture;
    if (!b.config.model_file.empty()) abs["model_file"] = b.config.model_file;
    if (!b.config.tokenizer.empty()) abs["tokenizer"] = b.config.tokenizer;
    YAML::Emitter out;
    out << YAML::Flow << abs;
    b.yaml = out.c_str();
    return b;
  }

  DaemonConfig load(const std::string& text) const {
    auto read = read_yaml(text, file_);  // bounded: common/yaml_read.hpp
    if (!read.ok()) throw Fail{read.error()};
    YAML::Node root = *read;
    if (!root || root.IsNull()) {
      YAML::Mark m;
      m.line = m.column = 0;
      fail(m, "the config file is empty; expected a map with at least 'backends' and 'workflows_dir'");
    }
    keys(root, "", kTopKeys);
    DaemonConfig c;
    c.file = file_;
    if (auto n = root["listen"]) {
      keys(n, "listen", {"host", "port"});
      if (n["host"]) c.host = str(n["host"], "listen.host");
      if (n["port"]) {
        c.port = static_cast<int>(integer(n["port"], "listen.port", 0));
        if (c.port > 65535) fail(n["port"], "listen.port: must be at most 65535");
      }
    }
    if (root["token"] && root["token_env"]) fail(root["token_env"], "give token or token_env, not both");
    if (auto n = root["token"]) c.token = str(n, "token");
    if (auto n = root["token_env"]) {
      std::string var = str(n, "token_env");
      const char* v = std::getenv(var.c_str());
      if (!v || !*v) fail(n, "token_env: the environment variable '" + var + "' is not set");
      c.token = v;
    }
    if (c.token.empty() && !engine::is_loopback_host(c.host))
      fail(root["listen"] ? root["listen"] : root,
           "refusing to listen on " + c.host + " without a token (set token or token_env)");
    if (!root["workflows_dir"]) fail(root, "missing required key 'workflows_dir'");
    c.workflows_dir = path(root["workflows_dir"], "workflows_dir");
    if (!fs::is_directory(c.workflows_dir))
      fail(root["workflows_dir"], "workflows_dir: " + c.workflows_dir + " is not a folder");
    if (auto n = root["db"]) c.db = path(n, "db");
    else c.db = (fs::path(file_).parent_path() / "troupe.db").lexically_normal().string();
    if (auto n = root["concurrency"]) c.concurrency = static_cast<int>(integer(n, "concurrency", 1));
    if (auto n = root["max_body_bytes"]) c.max_body_bytes = static_cast<size_t>(integer(n, "max_body_bytes", 64));
    if (auto n = root["shutdown_grace_s"]) c.shutdown_grace_s = number(n, "shutdown_grace_s");
    if (auto n = root["http_threads"]) c.http_threads = static_cast<int>(integer(n, "http_threads", 2));
    if (auto n = root["max_connections"]) c.max_connections = static_cast<int>(integer(n, "max_connections", 1));
    if (auto n = root["max_event_streams"]) {
      c.max_event_streams = static_cast<int>(integer(n, "max_event_streams", 1));
      if (c.max_event_streams >= c.http_threads)
        fail(n, "max_event_streams: must be below http_threads (" + std::to_string(c.http_threads) +
                    "), so other requests keep threads");
    } else {
      c.max_event_streams = std::max(1, std::min(c.max_event_streams, c.http_threads / 2));
    }
    auto positive = [&](const char* key, double& out) {
      if (auto n = root[key]) {
        out = number(n, key);
        if (out <= 0) fail(n, std::string(key) + ": must be above 0");
      }
    };
    positive("header_timeout_s", c.header_timeout_s);
    positive("read_timeout_s", c.read_timeout_s);
    positive("write_timeout_s", c.write_timeout_s);

    const YAML::Node bs = root["backends"];
    if (!bs) fail(root, "missing required key 'backends' (name -> backend section)");
    if (!bs.IsMap() || bs.size() == 0) fail(bs, "backends: expected a map of at least one name -> backend section");
    for (auto it = bs.begin(); it != bs.end(); ++it)
      c.backends.push_back(backend(str(it->first, "backends"), it->second));
    auto has_backend = [&](const std::string& name) {
      for (const auto& b : c.backends)
        if (b.name == name) return true;
      return false;
    };
    c.default_backend = c.backends.front().name;
    if (auto n = root["default_backend"]) {
      c.default_backend = str(n, "default_backend");
      if (!has_backend(c.default_backend)) fail(n, "default_backend: no backend named '" + c.default_backend + "'");
    }
    if (auto o = root["openai"]) {
      keys(o, "openai", {"models"});
      if (auto ms = o["models"]) {
        if (!ms.IsSequence()) fail(ms, "openai.models: expected a list");
        c.models_listed = true;
        std::set<std::string> seen;
        for (const auto& m : ms) {
          keys(m, "openai.models[]", {"name", "workflow", "backend"});
          ModelRoute r;
          if (!m["name"] || !m["workflow"]) fail(m, "openai.models[]: needs name and workflow");
          r.name = str(m["name"], "name");
          r.workflow = str(m["workflow"], "workflow");
          r.backend = m["backend"] ? str(m["backend"], "backend") : c.default_backend;
          if (!has_backend(r.backend)) fail(m["backend"], "backend: no backend named '" + r.backend + "'");
          if (!seen.insert(r.name).second) fail(m["name"], "model '" + r.name + "' is listed twice");
          c.models.push_back(std::move(r));
        }
      }
    }
    if (auto n = root["nats"]) nats(n, c.nats);
    return c;
  }

  // A JetStream name: no spaces, dots, '*', '>' or path separators.
  std::string jetstream_name(const YAML::Node& n, const std::string& key) const {
    std::string v = str(n, key);
    if (v.empty() || v.size() > 64 || v.find_first_of(" \t.*>/\\") != std::string::npos)
      fail(n, key + ": expected a name of 1 to 64 characters without spaces, '.', '*', '>', '/' or '\\'");
    return v;
  }

  void nats(const YAML::Node& n, NatsConfig& out) const {
    keys(n, "nats", {"url", "stream", "subject", "consumer", "ack_wait_s", "duplicate_window_s"});
    if (!n["url"]) fail(n, "nats: missing required key 'url' (like nats://127.0.0.1:4222)");
    out.url = str(n["url"], "nats.url");
    if (out.url.empty()) fail(n["url"], "nats.url: expected a server address like nats://127.0.0.1:4222");
    if (n["stream"]) out.stream = jetstream_name(n["stream"], "nats.stream");
    if (n["consumer"]) out.consumer = jetstream_name(n["consumer"], "nats.consumer");
    if (auto s = n["subject"]) {
      out.subject = str(s, "nats.subject");
      if (out.subject.empty() || out.subject.find_first_of(" \t*>") != std::string::npos)
        fail(s, "nats.subject: expected a literal subject like troupe.runs (no spaces or wildcards)");
    }
    auto seconds = [&](const char* key, double& v, double min) {
      if (auto x = n[key]) {
        v = number(x, std::string("nats.") + key);
        if (v < min) fail(x, "nats." + std::string(key) + ": must be at least " + std::to_string(min).substr(0, 4));
      }
    };
    seconds("ack_wait_s", out.ack_wait_s, 0.5);
    seconds("duplicate_window_s", out.duplicate_window_s, 1);
  }

 private:
  std::string file_;
};

}  // namespace

std::string backend_key(const workflows::BackendConfig& b) {
  std::ostringstream k;
  k << b.kind << '\n' << b.url << '\n' << b.model << '\n' << b.api << '\n' << b.api_key_env << '\n' << b.stream
    << '\n' << b.fixture << '\n' << b.model_file << '\n' << b.tokenizer << '\n' << b.chat_template << '\n'
    << b.threads << '\n' << b.kv_mb << '\n' << b.kv_type;
  // Added only off the default, so that a CPU backend's key stays what stored runs recorded.
  if (b.device != "cpu") k << "\ndevice " << b.device;
  // Endpoints behind a router: added only when there are several, so the
  // key of a one-server backend stays what stored runs recorded.
  if (b.urls.size() > 1 || b.replicas > 1) {
    k << "\nendpoints";
    for (const auto& u : b.urls) k << '\n' << u;
    k << '\n' << b.replicas;
  }
  return k.str();
}

Result<DaemonConfig> parse_daemon_config(const std::string& text, const std::string& path) {
  try {
    return Reader(path).load(text);
  } catch (const Fail& f) {
    return f.error;
  } catch (const YAML::Exception& e) {
    return Error{ErrorCode::parse, path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                       std::to_string(e.mark.column + 1) + ": " + e.msg};
  }
}

Result<DaemonConfig> load_daemon_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return Error{ErrorCode::not_found, path + ": no such config file"};
    return Error{ErrorCode::io, path + ": cannot read"};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_daemon_config(ss.str(), path);
}

}  // namespace troupe::daemon
