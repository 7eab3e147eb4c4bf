#pragma once
// Instants as UTC epoch milliseconds, and their text forms (RFC 3339, ClickHouse DateTime64).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tp {

// Parses RFC 3339 with a mandatory zone ("Z" or "+hh:mm"), optional fraction (up to 9 digits,
// truncated to milliseconds); returns UTC epoch ms, or nullopt if it is not such a timestamp.
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);

// "2026-11-24T18:03:12.345Z".
std::string format_iso_ms(int64_t epoch_ms);

// "2026-11-24 18:03:12.345": the text form of a DateTime64(3, 'UTC') query parameter.
std::string format_clickhouse_ms(int64_t epoch_ms);

// Parses "2026-11-24 18:03:12.345" (ClickHouse's output for DateTime64(3)) as UTC.
std::optional<int64_t> parse_clickhouse_ms(std::string_view text);

// Parses a duration like "90s", "5m", "1h", "2d", "1h30m" or "250ms"; nullopt if malformed or 0.
std::optional<int64_t> parse_duration_ms(std::string_view text);

// Current wall-clock time in UTC epoch ms.
int64_t now_ms();

}  // namespace tp
