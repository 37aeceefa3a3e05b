// `troupe serve` as a process under clients that misbehave: slow headers
// over the connection cap and workers all generating must not stop
// /health; a non-streamed request whose client hangs up is cancelled.
#include <catch2/catch.hpp>

#include <httplib.h>

#include <chrono>
#include <thread>

#include "support/raw_socket.hpp"
#include "support/temp_dir.hpp"
#include "troupe_process.hpp"

using namespace troupe::testing;
using namespace std::chrono_literals;

namespace {

// HOLD is never answered: the request waits until it is cancelled.
const char* kRules = "rules:\n  - match: HOLD\n    hold: true\ndefault: fine\n";

std::string held_request() {
  std::string body = R"({"messages":[{"role":"user","content":"HOLD"}],"max_tokens":256})";
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The value of a counter line "NAME VALUE" in /metrics, -1 when absent.
long long metric(httplib::Client& c, const std::string& name) {
  auto r = c.Get("/metrics");
  if (!r) return -1;
  size_t at = r->body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::atoll(r->body.c_str() + at + name.size() + 2);
}

// Polls /metrics until NAME has VALUE (10 s at most).
bool wait_for_metric(httplib::Client& c, const std::string& name, long long value) {
  for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
    if (metric(c, name) == value) return true;
    std::this_thread::sleep_for(50ms);  // polling a condition with a deadline
  }
  return false;
}

}  // namespace

TEST_CASE("troupe serve: /health answers with every worker generating and slow clients over the cap, a client that "
          "hangs up has its request cancelled",
          "[serve][process][limits]") {
  TempDir dir;
  write_file(dir.file("rules.yaml"), kRules);
  TroupeProcess serve("serve",
                      {"--scripted", dir.file("rules.yaml"), "--port", "0", "--max-connections", "6", "--http-threads",
                       "2", "--header-timeout", "1"},
                      "troupe serve: http://127\\.0\\.0\\.1:([0-9]+)");
  httplib::Client c("127.0.0.1", serve.port());
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(5, 0);

  // Both workers wait on held requests; more clients than the cap stall
  // mid-header.
  std::vector<std::unique_ptr<RawSocket>> busy, slow;
  for (int i = 0; i < 2; ++i) {
    busy.push_back(std::make_unique<RawSocket>(serve.port()));
    REQUIRE(busy.back()->send(held_request()));
  }
  REQUIRE(wait_for_metric(c, "troupe_serve_requests_in_flight", 2));
  for (int i = 0; i < 10; ++i) {
    slow.push_back(std::make_unique<RawSocket>(serve.port()));
    REQUIRE(slow.back()->send("POST /v1/completions HTTP/1.1\r\nHost: t\r\n"));
  }
  auto health = c.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  for (auto& s : slow) {
    int status = raw_status(s->read_until_closed(10s));
    CHECK(s->closed());
    CHECK((status == 503 || status == 408));
  }

  // The held requests' clients hang up: the server cancels both in the
  // backend (which answers a held request only then).
  CHECK(metric(c, "troupe_serve_client_disconnects_total") == 0);
  busy.clear();
  CHECK(wait_for_metric(c, "troupe_serve_client_disconnects_total", 2));
  CHECK(metric(c, "troupe_serve_requests_in_flight") == 0);
  CHECK(serve.stop() == 0);
}
