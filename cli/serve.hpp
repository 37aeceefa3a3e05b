// `troupe serve`: its arguments and its entry point (serve_main.cpp).
#pragma once

#include <string>

#include "cli/local_engine_flags.hpp"
#include "engine/serve/http_guard.hpp"

namespace troupe::cli {

struct ServeArgs {
  std::string model;
  std::string scripted;
  std::string model_name;
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string token_env;
  engine::HttpLimits limits;  // --max-connections, --http-threads, --*-timeout
  LocalEngineFlags engine;
};

int serve_main(const ServeArgs& args);

}  // namespace troupe::cli
