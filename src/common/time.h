#pragma once
// Instants as UTC epoch milliseconds, and their text forms (ISO 8601 / RFC 3339, ClickHouse
// DateTime64), and the IANA zone that times written without a zone are read in.
#include <absl/time/time.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tp {

// A timestamp as written: its wall-clock reading and, when the text names one, its UTC offset.
struct WrittenTime {
  int64_t wall_ms = 0;                    // the date and time as written, counted as if UTC
  std::optional<int32_t> offset_minutes;  // Z: 0, +02:00: 120; nullopt: no zone was written
};

// Parses the events' timestamp grammar (../shared/spec/events.md): YYYY-MM-DD, 'T' or one
// space, HH:MM:SS, optionally '.' and 1-9 fraction digits (truncated to milliseconds),
// optionally a zone Z, ±HH:MM, ±HHMM or ±HH. Impossible dates, hour 24 and second 60 are
// refused. nullopt if `text` is not such a timestamp.
std::optional<WrittenTime> parse_iso8601(std::string_view text);

// The instant of a timestamp that must carry a zone (flags such as --as-of), as UTC epoch ms;
// nullopt if it does not parse or names no zone.
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);

// An IANA time zone (e.g. "Europe/Berlin"), for times written without a zone. Cheap to copy.
class TimeZone {
 public:
  // UTC, the default: no lookup at all.
  TimeZone() = default;
  // The zone `name` from the system's zoneinfo (Debian's tzdata); kInvalidArgument if unknown.
  static Result<TimeZone> load(std::string_view name);

  // The UTC instant of wall-clock time `wall_ms` in this zone. A time that occurs twice (clocks
  // turned back) is its first occurrence; a time that does not occur (clocks turned forward)
  // is read with the offset in force before the change, as Python's zoneinfo does (fold=0).
  int64_t to_utc_ms(int64_t wall_ms) const;
  // The instant of `written`: its own offset if it has one, else read in this zone.
  int64_t resolve(const WrittenTime& written) const;

  const std::string& name() const { return name_; }
  bool is_utc() const { return utc_; }

 private:
  absl::TimeZone zone_ = absl::UTCTimeZone();
  std::string name_ = "UTC";
  bool utc_ = true;
};

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
