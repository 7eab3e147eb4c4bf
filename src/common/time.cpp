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

// Parses "YYYY-MM-DD?HH:MM:SS[.fff...]" where ? is one of `separators`; returns local ms.
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
      *hour > 23 || *minute > 59 || *second > 60) {
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
  int sec = *second == 60 ? 59 : *second;  // a leap second is read as :59.999
  if (*second == 60) millis = 999;
  int64_t days = days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
  return ((days * 24 + *hour) * 60 + *minute) * 60000 + sec * 1000LL + millis;
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

std::optional<int64_t> parse_rfc3339_ms(std::string_view text) {
  size_t pos = 0;
  auto local = parse_date_time(text, pos, "Tt");
  if (!local || pos >= text.size()) return std::nullopt;
  char zone = text[pos++];
  if ((zone == 'Z' || zone == 'z') && pos == text.size()) return *local;
  if (zone != '+' && zone != '-') return std::nullopt;
  auto hours = digits(text, pos, 2);
  if (!hours || pos >= text.size() || text[pos++] != ':') return std::nullopt;
  auto minutes = digits(text, pos, 2);
  if (!minutes || pos != text.size() || *hours > 23 || *minutes > 59) return std::nullopt;
  int64_t offset_ms = (*hours * 60 + *minutes) * 60000LL;
  return zone == '+' ? *local - offset_ms : *local + offset_ms;
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
