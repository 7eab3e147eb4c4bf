#pragma once
// One registry of the error codes TablePulse reports; tests compare codes, never message text.
#include <fmt/format.h>

#include <string>
#include <string_view>

namespace tp {

// X-macro: code name, stable string, exit status, meaning.
#define TP_ERROR_CODES(X)                                                                  \
  X(kOk, "ok", 0, "no error")                                                              \
  X(kInvalidArgument, "invalid_argument", 2, "a flag or parameter has a bad value")        \
  X(kIo, "io_error", 3, "a file or stream could not be read or written")                   \
  X(kEngineLoad, "engine_load_failed", 4, "the embedded chDB engine could not be loaded")  \
  X(kEngineLocked, "engine_locked", 5, "another process owns the embedded data directory") \
  X(kClickHouse, "clickhouse_error", 6, "ClickHouse refused a statement")                  \
  X(kUnavailable, "unavailable", 7, "ClickHouse could not be reached")                     \
  X(kAuth, "auth_failed", 8, "ClickHouse or a Kafka broker refused the credentials")       \
  X(kTimeout, "timeout", 9, "ClickHouse did not answer in time")                           \
  X(kProtocol, "protocol_error", 10, "an answer could not be understood")                  \
  X(kNotFound, "not_found", 11, "the named thing does not exist")                          \
  X(kDataCorrupted, "data_corrupted", 12, "stored data could not be read (a broken part)") \
  X(kMigrationMismatch, "migration_mismatch", 13,                                          \
    "an applied migration's file holds other statements than the database applied")        \
  X(kUnauthorized, "unauthorized", 14, "the request carries no valid token")                \
  X(kForbidden, "forbidden", 15, "the token is valid but may not do this (the read token "   \
    "cannot write)")                                                                       \
  X(kPayloadTooLarge, "payload_too_large", 16,                                             \
    "a request body (or its inflated content) is over the limit")                          \
  X(kRateLimited, "rate_limited", 17, "more events per second than --events-rate allows")   \
  X(kMalformedBody, "malformed_body", 18,                                                  \
    "a request body is neither JSON lines nor one JSON array, or its gzip is broken")      \
  X(kInternal, "internal", 70, "a bug: an invariant did not hold")

enum class ErrorCode {
#define TP_ENUM(name, str, exit_status, what) name,
  TP_ERROR_CODES(TP_ENUM)
#undef TP_ENUM
};

// Stable name of a code, as printed in errors and JSON ("engine_locked").
std::string_view error_code_name(ErrorCode code);
// Process exit status for a failure with this code.
int error_exit_status(ErrorCode code);

// An expected failure: a code for programs, a message for people, ClickHouse's own code if any.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  int clickhouse_code = 0;  // ClickHouse's numeric code (e.g. 60 UNKNOWN_TABLE), 0 if none

  std::string to_string() const;
};

template <typename... Args>
Error make_error(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return Error{code, fmt::format(format, std::forward<Args>(args)...), 0};
}

}  // namespace tp
