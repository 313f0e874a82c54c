// Errors are values. Convert errno / library errors once, at the boundary,
// with the path or call in the message; no exception crosses a module.
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

namespace nodehealth {

struct Error {
  std::string message;
  int errno_value = 0;  // 0 when the error did not come from a syscall

  Error() = default;
  explicit Error(std::string msg, int err = 0) : message(std::move(msg)), errno_value(err) {}
};

template <typename T>
using Result = std::expected<T, Error>;

// Shorthand for returning an error: `return fail("meminfo: missing MemTotal");`
inline std::unexpected<Error> fail(std::string message, int err = 0) {
  return std::unexpected<Error>(Error(std::move(message), err));
}

// "<what>: <strerror(err)>" for a failed syscall, e.g. errno_error("open /proc/meminfo", errno).
inline std::unexpected<Error> errno_error(const std::string& what, int err) {
  return std::unexpected<Error>(Error(what + ": " + std::strerror(err), err));
}

// Prefixes context to an error, keeping its errno.
inline Error with_context(const std::string& context, Error e) {
  e.message = context + ": " + e.message;
  return e;
}

}  // namespace nodehealth
