// The trajectory viewer's static files (daemon/web/), embedded in the
// binary at build time by daemon/web/embed.cmake. docs/viewer.md.
//
// Callers may rely on:
// - web_files() is the whole set: each entry's path starts with '/', is
//   the file's name under daemon/web/ and carries the content type of its
//   extension. Nothing else is served; find_web_file() looks a request path
//   up in this table only (no filesystem access, so no traversal).
// - "/" names "/index.html".
#pragma once

#include <span>
#include <string_view>

namespace troupe::daemon {

struct WebFile {
  std::string_view path;          // "/app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;
};

std::span<const WebFile> web_files();

// The file served at `path`, or nullptr.
inline const WebFile* find_web_file(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (const WebFile& f : web_files())
    if (f.path == path) return &f;
  return nullptr;
}

// The Content-Security-Policy sent with every viewer file: scripts, styles,
// images and fetches from the daemon itself only; no inline script or
// style markup, no plugins, frames, forms or base changes.
inline constexpr std::string_view kViewerCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace troupe::daemon
