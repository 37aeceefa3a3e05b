#include "engine/scripted/scripted_backend.hpp"

#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "common/ids.hpp"
#include "common/yaml_read.hpp"

namespace troupe::engine {
namespace {

std::string where(const std::string& name, const YAML::Node& node) {
  const auto& m = node.Mark();
  return name + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

int64_t count_words(std::string_view s) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : s) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

// Keeps the first `max_words` whitespace-separated words of `text`.
bool truncate_words(std::string& text, int64_t max_words) {
  int64_t n = 0;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) {
      if (n == max_words) {
        text.resize(i);
        return true;
      }
      ++n;
    }
    in_word = !space;
  }
  return false;
}

}  // namespace

Result<ScriptedFixture> ScriptedBackend::parse_fixture(const std::string& yaml_text,
                                                       const std::string& name) {
  auto read = read_yaml(yaml_text, name);  // bounded: common/yaml_read.hpp
  if (!read.ok()) return read.error();
  YAML::Node root = *read;
  if (!root.IsMap()) return Error{ErrorCode::parse, name + ": a fixture is a map with 'rules'"};
  ScriptedFixture fx;
  try {
    for (auto it = root.begin(); it != root.end(); ++it) {
      std::string key = it->first.as<std::string>();
      if (key == "default") {
        fx.default_reply = it->second.as<std::string>();
      } else if (key == "request_log") {
        fx.request_log = it->second.as<std::string>();
      } else if (key == "delay_ms") {
        fx.delay_ms = it->second.as<int>();
        if (fx.delay_ms < 0) return Error{ErrorCode::parse, where(name, it->second) + ": delay_ms must be >= 0"};
      } else if (key != "rules") {
        return Error{ErrorCode::parse, where(name, it->first) + ": unknown key '" + key +
                                           "' (expected rules, default, request_log, delay_ms)"};
      }
    }
    const YAML::Node rules = root["rules"];
    if (rules && !rules.IsSequence())
      return Error{ErrorCode::parse, where(name, rules) + ": rules must be a list"};
    if (rules) {
      for (const auto& r : rules) {
        if (!r.IsMap()) return Error{ErrorCode::parse, where(name, r) + ": a rule is a map"};
        ScriptedRule rule;
        for (auto it = r.begin(); it != r.end(); ++it) {
          std::string key = it->first.as<std::string>();
          const YAML::Node v = it->second;
          if (key == "match") {
            rule.match = v.as<std::string>();
          } else if (key == "regex") {
            rule.regex = v.as<bool>();
          } else if (key == "where") {
            std::string w = v.as<std::string>();
            if (w != "last" && w != "all")
              return Error{ErrorCode::parse, where(name, v) + ": where must be 'last' or 'all'"};
            rule.last_message_only = w == "last";
          } else if (key == "reply") {
            rule.replies.push_back(v.as<std::string>());
          } else if (key == "replies") {
            if (!v.IsSequence())
              return Error{ErrorCode::parse, where(name, v) + ": replies must be a list"};
            for (const auto& x : v) rule.replies.push_back(x.as<std::string>());
          } else if (key == "finish") {
            std::string f = v.as<std::string>();
            if (f == "stop") rule.finish = FinishReason::stop;
            else if (f == "length") rule.finish = FinishReason::length;
            else return Error{ErrorCode::parse, where(name, v) + ": finish must be stop or length"};
          } else if (key == "model") {
            rule.model = v.as<std::string>();
          } else if (key == "hold") {
            rule.hold = v.as<bool>();
          } else if (key == "error") {
            rule.error_status = v["status"] ? v["status"].as<int>() : 500;
            rule.error_message = v["message"] ? v["message"].as<std::string>() : "scripted error";
          } else {
            return Error{ErrorCode::parse, where(name, it->first) + ": unknown rule key '" + key +
                                               "' (expected match, regex, where, model, reply, replies, finish, error, hold)"};
          }
        }
        if (rule.replies.empty() && rule.error_status == 0 && !rule.hold)
          return Error{ErrorCode::parse, where(name, r) + ": a rule needs reply, replies, error or hold"};
        if (rule.regex) {
          try {
            std::regex test(rule.match);
          } catch (const std::regex_error& e) {
            return Error{ErrorCode::parse, where(name, r) + ": bad regex '" + rule.match + "': " + e.what()};
          }
        }
        fx.rules.push_back(std::move(rule));
      }
    }
  } catch (const YAML::Exception& e) {
    return Error{ErrorCode::parse, name + ":" + std::to_string(e.mark.line + 1) + ":" +
                                       std::to_string(e.mark.column + 1) + ": " + e.msg};
  }
  return fx;
}

Result<ScriptedFixture> ScriptedBackend::load_fixture(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{ErrorCode::io, path + ": cannot read scripted fixture"};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_fixture(ss.str(), path);
}

ScriptedBackend::ScriptedBackend(ScriptedFixture fixture, std::string model)
    : fixture_(std::move(fixture)), model_(std::move(model)) {
  for (const auto& r : fixture_.rules)
    compiled_.push_back(r.regex ? std::optional<std::regex>(std::regex(r.match)) : std::nullopt);
  worker_ = std::thread([this] { loop(); });
}

ScriptedBackend::~ScriptedBackend() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& p : queue_) p->cancelled = true;
    // Held requests get their one callback (cancelled) from the worker.
    for (auto& p : held_) {
      p->cancelled = true;
      queue_.push_back(p);
    }
    held_.clear();
  }
  cv_.notify_all();
  worker_.join();
}

int64_t ScriptedBackend::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(held_.size());
}

void ScriptedBackend::wait_held(int64_t n) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return static_cast<int64_t>(held_.size()) >= n; });
}

BackendInfo ScriptedBackend::info() const { return {"scripted", model_, "fixture"}; }

std::string ScriptedBackend::prompt_text(const GenerateRequest& request, bool last_only) {
  if (request.kind == PromptKind::text) return request.prompt;
  std::string out;
  size_t first = last_only && !request.messages.empty() ? request.messages.size() - 1 : 0;
  for (size_t i = first; i < request.messages.size(); ++i) {
    if (!out.empty()) out += "\n";
    out += request.messages[i].role + ": " + request.messages[i].content;
  }
  return out;
}

void ScriptedBackend::submit(GenerateRequest request, GenerateCallback done) {
  if (request.id.empty()) request.id = new_id("req");
  if (request.sampling.n < 1) {
    done(Error{ErrorCode::invalid_argument, "request " + request.id + ": n must be >= 1"});
    return;
  }
  calls_.fetch_add(1);
  if (!fixture_.request_log.empty()) log_request(request);
  auto p = std::make_shared<Pending>();
  p->request = std::move(request);
  p->done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(p));
  }
  cv_.notify_one();
}

void ScriptedBackend::log_request(const GenerateRequest& request) {
  std::string line = request.id + "\t" + sha256_hex(prompt_text(request, false)) + "\n";
  std::lock_guard<std::mutex> lock(log_mu_);
  int fd = ::open(fixture_.request_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;  // a test fixture's log; the request is still answered
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
}

void ScriptedBackend::cancel(const std::string& request_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& p : queue_)
      if (p->request.id == request_id) p->cancelled = true;
    for (auto it = held_.begin(); it != held_.end(); ++it) {
      if ((*it)->request.id != request_id) continue;
      (*it)->cancelled = true;
      queue_.push_back(*it);  // the worker delivers the cancelled callback
      held_.erase(it);
      released_.fetch_add(1);
      break;
    }
  }
  cv_.notify_all();
}

bool ScriptedBackend::holds(const GenerateRequest& request) const {
  for (size_t ri = 0; ri < fixture_.rules.size(); ++ri) {
    const ScriptedRule& rule = fixture_.rules[ri];
    std::string text = prompt_text(request, rule.last_message_only);
    bool hit = compiled_[ri] ? std::regex_search(text, *compiled_[ri]) : text.find(rule.match) != std::string::npos;
    if (hit) return rule.hold;
  }
  return false;
}

Result<GenerateResult> ScriptedBackend::answer(const GenerateRequest& request) {
  for (size_t ri = 0; ri < fixture_.rules.size(); ++ri) {
    const ScriptedRule& rule = fixture_.rules[ri];
    if (!rule.model.empty() && rule.model != (request.model.empty() ? model_ : request.model)) continue;
    std::string text = prompt_text(request, rule.last_message_only);
    bool hit = compiled_[ri] ? std::regex_search(text, *compiled_[ri]) : text.find(rule.match) != std::string::npos;
    if (!hit) continue;
    if (rule.error_status != 0)
      return Error{ErrorCode::http, rule.error_message, rule.error_status, rule.error_status >= 500};
    int k;
    {
      std::lock_guard<std::mutex> lock(mu_);
      int& count = asked_[std::to_string(ri) + '\0' + prompt_text(request, false)];
      k = count;
      ++count;
    }
    GenerateResult result;
    result.request_id = request.id;
    result.model = request.model.empty() ? model_ : request.model;
    result.usage.prompt_tokens = count_words(prompt_text(request, false));
    for (int i = 0; i < request.sampling.n; ++i) {
      Choice c;
      c.index = i;
      c.text = rule.replies[static_cast<size_t>(k + i) % rule.replies.size()];
      c.finish = rule.finish;
      c.stop_string = apply_stop_strings(c.text, request.sampling.stop);
      if (truncate_words(c.text, request.sampling.max_tokens)) {
        c.finish = FinishReason::length;
        c.stop_string.clear();
      }
      result.usage.completion_tokens += count_words(c.text);
      result.choices.push_back(std::move(c));
    }
    return result;
  }
  if (fixture_.default_reply) {
    GenerateResult result;
    result.request_id = request.id;
    result.model = request.model.empty() ? model_ : request.model;
    result.usage.prompt_tokens = count_words(prompt_text(request, false));
    for (int i = 0; i < request.sampling.n; ++i) {
      Choice c;
      c.index = i;
      c.text = *fixture_.default_reply;
      c.stop_string = apply_stop_strings(c.text, request.sampling.stop);
      if (truncate_words(c.text, request.sampling.max_tokens)) c.finish = FinishReason::length;
      result.usage.completion_tokens += count_words(c.text);
      result.choices.push_back(std::move(c));
    }
    return result;
  }
  std::string text = prompt_text(request, false);
  if (text.size() > 200) text = text.substr(0, 200) + "...";
  return Error{ErrorCode::not_found, "scripted backend: no rule matches request " + request.id +
                                         " and the fixture has no default (prompt: " + text + ")"};
}

void ScriptedBackend::loop() {
  for (;;) {
    std::shared_ptr<Pending> p;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      p = std::move(queue_.front());
      queue_.pop_front();
    }
    bool cancelled;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // A slow backend: wait, but wake for shutdown.
      if (fixture_.delay_ms > 0)
        cv_.wait_for(lock, std::chrono::milliseconds(fixture_.delay_ms), [&] { return stopping_; });
      cancelled = p->cancelled;
    }
    if (cancelled) {
      p->done(Error{ErrorCode::cancelled, "request " + p->request.id + " cancelled"});
      continue;
    }
    if (holds(p->request)) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        held_.push_back(std::move(p));
      }
      cv_.notify_all();
      continue;
    }
    p->done(answer(p->request));
  }
}

}  // namespace troupe::engine
