#include "common/time.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace tp {
namespace {

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm), valid for any year.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at text[pos]; advances pos.
std::optional<int> digits(std::string_view text, size_t& pos, size_t n) {
  if (pos + n > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += n;
  return value;
}

// Parses "YYYY-MM-DD?HH:MM:SS[.fffffffff]" where ? is one of `separators`; returns the wall
// time as if UTC, in ms. Second 60 (a leap second) and hour 24 are refused: neither is an
// instant the events can carry.
std::optional<int64_t> parse_date_time(std::string_view text, size_t& pos,
                                       std::string_view separators) {
  auto year = digits(text, pos, 4);
  if (!year || pos >= text.size() || text[pos++] != '-') return std::nullopt;
  auto month = digits(text, pos, 2);
  if (!month || pos >= text.size() || text[pos++] != '-') return std::nullopt;
  auto day = digits(text, pos, 2);
  if (!day || pos >= text.size() || separators.find(text[pos++]) == std::string_view::npos) {
    return std::nullopt;
  }
  auto hour = digits(text, pos, 2);
  if (!hour || pos >= text.size() || text[pos++] != ':') return std::nullopt;
  auto minute = digits(text, pos, 2);
  if (!minute || pos >= text.size() || text[pos++] != ':') return std::nullopt;
  auto second = digits(text, pos, 2);
  if (!second) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 ||
      static_cast<unsigned>(*day) > days_in_month(*year, static_cast<unsigned>(*month)) ||
      *hour > 23 || *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  int millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (pos - start < 3) millis = millis * 10 + (text[pos] - '0');
      ++pos;
    }
    size_t count = pos - start;
    if (count == 0 || count > 9) return std::nullopt;
    for (size_t i = count; i < 3; ++i) millis *= 10;
  }
  int64_t days = days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
  return ((days * 24 + *hour) * 60 + *minute) * 60000 + *second * 1000LL + millis;
}

// Parses a zone at text[pos..]: Z, ±HH:MM, ±HHMM or ±HH, to the end of the text.
std::optional<int32_t> parse_offset_minutes(std::string_view text, size_t pos) {
  if (pos >= text.size()) return std::nullopt;
  char sign = text[pos++];
  if (sign == 'Z') return pos == text.size() ? std::optional<int32_t>(0) : std::nullopt;
  if (sign != '+' && sign != '-') return std::nullopt;
  auto hours = digits(text, pos, 2);
  if (!hours || *hours > 23) return std::nullopt;
  int minutes = 0;
  if (pos < text.size()) {
    if (text[pos] == ':') ++pos;
    auto parsed = digits(text, pos, 2);
    if (!parsed || *parsed > 59) return std::nullopt;
    minutes = *parsed;
  }
  if (pos != text.size()) return std::nullopt;
  int32_t total = *hours * 60 + minutes;
  return sign == '+' ? total : -total;
}

std::string format_ms(int64_t epoch_ms, char separator, bool zulu) {
  int64_t days = epoch_ms >= 0 ? epoch_ms / 86400000 : -((-epoch_ms + 86399999) / 86400000);
  int64_t ms_of_day = epoch_ms - days * 86400000;
  // civil_from_days
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  return fmt::format("{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}.{:03}{}", y, m, d, separator,
                     ms_of_day / 3600000, ms_of_day / 60000 % 60, ms_of_day / 1000 % 60,
                     ms_of_day % 1000, zulu ? "Z" : "");
}

}  // namespace

std::optional<WrittenTime> parse_iso8601(std::string_view text) {
  size_t pos = 0;
  auto wall = parse_date_time(text, pos, "T ");
  if (!wall) return std::nullopt;
  WrittenTime written{*wall, std::nullopt};
  if (pos == text.size()) return written;
  written.offset_minutes = parse_offset_minutes(text, pos);
  if (!written.offset_minutes) return std::nullopt;
  return written;
}

std::optional<int64_t> parse_rfc3339_ms(std::string_view text) {
  auto written = parse_iso8601(text);
  if (!written || !written->offset_minutes) return std::nullopt;
  return written->wall_ms - *written->offset_minutes * 60000LL;
}

Result<TimeZone> TimeZone::load(std::string_view name) {
  TimeZone zone;
  if (name == "UTC") return zone;
  // absl falls back to UTC for an unknown name: only its return value tells.
  if (name.empty() || !absl::LoadTimeZone(std::string(name), &zone.zone_)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "unknown time zone '{}': expected an IANA name such as UTC or "
                      "Europe/Berlin (from /usr/share/zoneinfo, package tzdata)",
                      name);
  }
  zone.name_ = std::string(name);
  zone.utc_ = false;
  return zone;
}

int64_t TimeZone::to_utc_ms(int64_t wall_ms) const {
  if (utc_) return wall_ms;
  const int64_t seconds = wall_ms >= 0 ? wall_ms / 1000 : -((-wall_ms + 999) / 1000);
  const int64_t millis = wall_ms - seconds * 1000;
  const absl::CivilSecond civil =
      absl::ToCivilSecond(absl::FromUnixSeconds(seconds), absl::UTCTimeZone());
  return absl::ToUnixSeconds(zone_.At(civil).pre) * 1000 + millis;
}

int64_t TimeZone::resolve(const WrittenTime& written) const {
  if (written.offset_minutes) return written.wall_ms - *written.offset_minutes * 60000LL;
  return to_utc_ms(written.wall_ms);
}

std::string format_iso_ms(int64_t epoch_ms) { return format_ms(epoch_ms, 'T', true); }

std::string format_clickhouse_ms(int64_t epoch_ms) { return format_ms(epoch_ms, ' ', false); }

std::optional<int64_t> parse_clickhouse_ms(std::string_view text) {
  size_t pos = 0;
  auto local = parse_date_time(text, pos, " ");
  if (!local || pos != text.size()) return std::nullopt;
  return local;
}

std::optional<int64_t> parse_duration_ms(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    int64_t value = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      value = value * 10 + (text[pos++] - '0');
      if (value > 1'000'000'000) return std::nullopt;
    }
    if (pos == start || pos == text.size()) return std::nullopt;
    int64_t unit;
    if (text.substr(pos, 2) == "ms") {
      unit = 1;
      pos += 2;
    } else {
      switch (text[pos++]) {
        case 's':
          unit = 1000;
          break;
        case 'm':
          unit = 60000;
          break;
        case 'h':
          unit = 3600000;
          break;
        case 'd':
          unit = 86400000;
          break;
        default:
          return std::nullopt;
      }
    }
    total += value * unit;
  }
  if (total <= 0 || total > 400LL * 86400000) return std::nullopt;
  return total;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tp
