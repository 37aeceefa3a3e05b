// Helpers shared by the daemon's route files (http_api.cpp, openai_front.cpp).
// Internal to troupe_daemon.
#pragma once

#include <httplib.h>

#include <string>
#include <string_view>

#include "common/error.hpp"
#include "daemon/run_service.hpp"
#include "engine/serve/http_guard.hpp"

namespace troupe::daemon {

// Writes the one error shape.
void send_error(httplib::Response& res, int status, std::string_view message, std::string_view param = {});
// The HTTP status for an Error from the service.
int status_for(const Error& e);
// The run record as the API shows it.
std::string run_json(const memory::RunRecord& r);

// POST /v1/chat/completions and GET /v1/models. A completion holds a
// StreamSlot of `server` until its run ends (503 when none is free).
void install_openai_routes(engine::GuardedHttpServer& server, RunService& service);

}  // namespace troupe::daemon
