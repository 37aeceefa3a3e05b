// Errors that users and the outside world can cause (bad files, bad input,
// unreachable servers, model output that does not parse) are values, not
// exceptions: functions return Result<T> (a T or an Error) or Status
// (Result<void>). An Error carries a category, a human message that names
// where things went wrong (file:line:col, request id, tensor), and for HTTP
// failures the server's status code. Nothing here throws except value() on
// an error Result, which is a programming mistake.
//
// Early return, the one pair of macros for it (in a function that returns a
// Result<U> or a Status):
//   TROUPE_TRY(expr);                  // expr is a Status or Result: on error, return its Error
//   TROUPE_TRY_ASSIGN(auto x, expr);   // declares x from a Result's value, or returns its Error
//   TROUPE_TRY_ASSIGN(w.field, expr);  // assigns an existing lvalue the same way
// expr may hold commas (braced lists). TROUPE_TRY_ASSIGN expands to more
// than one statement: use it as a statement of its own, one per line.
#pragma once

#include <cassert>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace troupe {

enum class ErrorCode {
  invalid_argument,  // caller or user input is malformed
  not_found,
  io,                // file system, database
  parse,             // a file or body that does not parse
  http,              // a server answered with an error status or body
  network,           // connection refused / reset, DNS, TLS
  timeout,
  cancelled,
  budget_exhausted,
  unsupported,       // a parameter or feature the backend cannot honour
  internal,
};

const char* to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
  int http_status = 0;     // set for ErrorCode::http
  bool retryable = false;  // a retry could succeed (5xx, 429, timeouts, resets)

  Error() = default;
  Error(ErrorCode c, std::string msg, int status = 0, bool retry = false)
      : code(c), message(std::move(msg)), http_status(status), retryable(retry) {}

  // "http 503: model overloaded", "parse: spoc.yaml:3:7: unknown key 'solverr'"
  std::string describe() const;
  // A copy with `context + ": "` prefixed to the message.
  Error with_context(const std::string& context) const;
};

// A T or an Error. Converts implicitly from both, so `return value;` and
// `return Error{...};` both work.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  Error& error() { assert(!ok()); return std::get<1>(v_); }

 private:
  void check() const {
    if (!ok()) throw std::logic_error("Result::value() on error: " + std::get<1>(v_).describe());
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace troupe

#define TROUPE_TRY_CONCAT_INNER(a, b) a##b
#define TROUPE_TRY_CONCAT(a, b) TROUPE_TRY_CONCAT_INNER(a, b)

#define TROUPE_TRY(...)                                    \
  do {                                                     \
    auto&& troupe_try_status_ = (__VA_ARGS__);             \
    if (!troupe_try_status_.ok()) return troupe_try_status_.error(); \
  } while (0)

#define TROUPE_TRY_ASSIGN(lhs, ...)                                                    \
  auto TROUPE_TRY_CONCAT(troupe_try_result_, __LINE__) = (__VA_ARGS__);                 \
  if (!TROUPE_TRY_CONCAT(troupe_try_result_, __LINE__).ok())                            \
    return TROUPE_TRY_CONCAT(troupe_try_result_, __LINE__).error();                     \
  lhs = std::move(TROUPE_TRY_CONCAT(troupe_try_result_, __LINE__)).value()
