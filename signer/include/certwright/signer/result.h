// Result<T>: a value or an Error, the way every fallible certwright call reports failure.
//
// Errors are values, not exceptions (STYLE.md §7). Each Error carries a kind that tells the
// caller what to do with it:
//   - retryable kinds (kUnavailable, kConflict): back off and try again;
//   - terminal kinds (kInvalidArgument, kPermissionDenied, kPolicyDenied, kNotFound, ...):
//     record a condition and an Event with the message, do not spin.
// Broken invariants are not Errors: they abort.
//
// Usage:
//   Result<int> ParsePort(std::string_view s);
//   auto port = ParsePort(text);
//   if (!port) return port.error().WithContext("reading --port");
//   Use(*port);
#pragma once

#include <cassert>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace certwright {

enum class ErrorKind {
  kInvalidArgument,   // the input is malformed or out of range; the caller must change it
  kNotFound,          // a named thing (token, key object, file, issuer) does not exist
  kAlreadyExists,     // creating something that is already there
  kPermissionDenied,  // wrong PIN, wrong credentials, RBAC refusal
  kPolicyDenied,      // the request is well formed but issuance policy forbids it
  kUnavailable,       // device or server busy or unreachable; retry with back-off
  kConflict,          // optimistic concurrency lost (resourceVersion); retry
  kInternal,          // a library failed in a way the caller cannot fix
};

const char* ErrorKindName(ErrorKind kind);

// What a remote API said about a failure (the Kubernetes Status object, an HTTP status).
struct ErrorDetail {
  int http_status = 0;       // 0 when no response was received
  std::string reason;        // Kubernetes Status.reason: "NotFound", "Conflict", "Invalid", "Expired", ...
  std::vector<std::pair<std::string, std::string>> causes;  // (field, message) for Invalid
  std::chrono::milliseconds retry_after{0};                 // from Retry-After, for 429 and 503
};

class [[nodiscard]] Error {
 public:
  Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  bool retryable() const { return kind_ == ErrorKind::kUnavailable || kind_ == ErrorKind::kConflict; }

  // Present when the error came from a remote API.
  const ErrorDetail* detail() const { return detail_.get(); }
  int http_status() const { return detail_ ? detail_->http_status : 0; }
  Error WithDetail(ErrorDetail detail) && {
    detail_ = std::make_shared<const ErrorDetail>(std::move(detail));
    return std::move(*this);
  }

  // Prefixes the message with where it happened: "reading ca.pem: <message>".
  Error WithContext(std::string_view context) const& {
    Error e(kind_, std::string(context) + ": " + message_);
    e.detail_ = detail_;
    return e;
  }
  Error WithContext(std::string_view context) && {
    message_ = std::string(context) + ": " + message_;
    return std::move(*this);
  }

 private:
  ErrorKind kind_;
  std::string message_;
  std::shared_ptr<const ErrorDetail> detail_;
};

inline Error InvalidArgument(std::string m) { return Error(ErrorKind::kInvalidArgument, std::move(m)); }
inline Error NotFound(std::string m) { return Error(ErrorKind::kNotFound, std::move(m)); }
inline Error AlreadyExists(std::string m) { return Error(ErrorKind::kAlreadyExists, std::move(m)); }
inline Error PermissionDenied(std::string m) { return Error(ErrorKind::kPermissionDenied, std::move(m)); }
inline Error PolicyDenied(std::string m) { return Error(ErrorKind::kPolicyDenied, std::move(m)); }
inline Error Unavailable(std::string m) { return Error(ErrorKind::kUnavailable, std::move(m)); }
inline Error Conflict(std::string m) { return Error(ErrorKind::kConflict, std::move(m)); }
inline Error Internal(std::string m) { return Error(ErrorKind::kInternal, std::move(m)); }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { assert(!ok()); return std::get<1>(v_); }
  Error&& error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { assert(!ok_); return error_; }
  Error&& error() && { assert(!ok_); return std::move(error_); }

 private:
  Error error_{ErrorKind::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;
inline Status Ok() { return Status(); }

}  // namespace certwright

// Returns the error of `expr` from the enclosing function if it failed.
#define CW_RETURN_IF_ERROR(expr)                       \
  do {                                                 \
    if (auto cw_status_ = (expr); !cw_status_.ok()) {  \
      return std::move(cw_status_).error();            \
    }                                                  \
  } while (0)

#define CW_CONCAT_INNER_(a, b) a##b
#define CW_CONCAT_(a, b) CW_CONCAT_INNER_(a, b)
// Declares `lhs` from the value of the Result `expr`, or returns its error.
#define CW_ASSIGN_OR_RETURN(lhs, expr) CW_ASSIGN_OR_RETURN_IMPL_(CW_CONCAT_(cw_result_, __LINE__), lhs, expr)
#define CW_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).error();   \
  lhs = std::move(tmp).value()
