// HttpListener (engine/serve/http_listener.hpp): the start/stop code that
// `troupe serve` and `troupe daemon` share, on a plain httplib server.
#include <catch2/catch.hpp>

#include <httplib.h>

#include "engine/serve/http_listener.hpp"

using namespace troupe;
using namespace troupe::engine;

namespace {

void add_ping(httplib::Server& server) {
  server.Get("/ping", [](const httplib::Request&, httplib::Response& res) { res.set_content("pong", "text/plain"); });
}

}  // namespace

TEST_CASE("HttpListener serves once start returns, and stop joins and is idempotent", "[listener]") {
  httplib::Server server;
  add_ping(server);
  HttpListener listener;
  REQUIRE(listener.start(server, "127.0.0.1", 0, "test server").ok());
  REQUIRE(listener.port() > 0);
  httplib::Client client("127.0.0.1", listener.port());
  auto res = client.Get("/ping");  // no wait: start() returns only once the server accepts
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "pong");
  listener.stop();
  CHECK_FALSE(server.is_running());
  listener.stop();  // a second stop does nothing
}

TEST_CASE("HttpListener: a port in use is a network error naming the server and the address", "[listener]") {
  httplib::Server first;
  add_ping(first);
  HttpListener a;
  REQUIRE(a.start(first, "127.0.0.1", 0, "first").ok());
  httplib::Server second;
  HttpListener b;
  Status st = b.start(second, "127.0.0.1", a.port(), "second server");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::network);
  CHECK(st.error().message ==
        "second server: cannot listen on 127.0.0.1:" + std::to_string(a.port()) + " (address in use or not available)");
  b.stop();  // never started: nothing to do
  // The first server still answers.
  httplib::Client client("127.0.0.1", a.port());
  auto res = client.Get("/ping");
  REQUIRE(res);
  CHECK(res->body == "pong");
}

TEST_CASE("HttpListener: a second start is refused", "[listener]") {
  httplib::Server server;
  HttpListener listener;
  REQUIRE(listener.start(server, "127.0.0.1", 0, "once").ok());
  Status again = listener.start(server, "127.0.0.1", 0, "once");
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().message == "once: already started");
}
