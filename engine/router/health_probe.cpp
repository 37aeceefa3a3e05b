// http_health_probe (declared in router_backend.hpp): one bounded GET per
// check with libcurl's easy interface, on the calling thread.
#include <curl/curl.h>

#include <mutex>

#include "engine/router/router_backend.hpp"

namespace troupe::engine::router {

namespace {

size_t discard(char*, size_t size, size_t count, void* seen) {
  // Health replies are small; a server that streams more is cut off (the
  // transfer fails, and so does the check).
  size_t& total = *static_cast<size_t*>(seen);
  total += size * count;
  return total > (64u << 10) ? 0 : size * count;
}

// The HTTP status of GET url, or 0 when no reply came within the timeout.
long get_status(const std::string& url, std::chrono::milliseconds timeout) {
  CURL* e = curl_easy_init();
  if (!e) return 0;
  size_t seen = 0;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &seen);
  long status = 0;
  if (curl_easy_perform(e) == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  return status;
}

}  // namespace

std::function<bool()> http_health_probe(const std::string& base_url, std::chrono::milliseconds timeout) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::string root = base_url;
  while (!root.empty() && root.back() == '/') root.pop_back();
  if (root.size() >= 3 && root.compare(root.size() - 3, 3, "/v1") == 0) root.resize(root.size() - 3);
  return [root, timeout] {
    long status = get_status(root + "/health", timeout);
    if (status == 404) status = get_status(root + "/v1/models", timeout);
    return status >= 200 && status < 300;
  };
}

}  // namespace troupe::engine::router
