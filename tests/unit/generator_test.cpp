// The mock event stream: determinism, the exact shape of docs/EVENTS.md, money that adds up, a
// plausible simulation (causal order, timings), the noise it promises, the CLI and live mode;
// and its pieces one by one: the simulation, the wire format, the noise.
#include "generate/generator.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "common/time.h"
#include "decode/decoder.h"
#include "decode/reasons.h"
#include "generate/noise.h"
#include "generate/simulation.h"
#include "generate/wire.h"
#include "test_support.h"

namespace tp {
namespace {

using generate::Generator;
using generate::GeneratorOptions;
using generate::LineKind;
using nlohmann::json;
using nlohmann::ordered_json;

struct Emitted {
  std::string text;
  LineKind kind;
  int64_t emit_ms;
  std::optional<decode::Reason> expected_reason;
};

std::vector<Emitted> generate_lines(const GeneratorOptions& options,
                                    generate::GeneratorStats* stats = nullptr) {
  std::vector<Emitted> lines;
  Generator generator(options);
  while (auto line = generator.next_line()) {
    lines.push_back({std::string(line->text), line->kind, line->emit_ms, line->expected_reason});
  }
  if (stats != nullptr) *stats = generator.stats();
  return lines;
}

std::string join(const std::vector<Emitted>& lines) {
  std::string all;
  for (const auto& line : lines) {
    all += line.text;
    all += '\n';
  }
  return all;
}

// True if `text` matches `pattern`: 'D' a digit, 'X' a hex digit of any case, 'h' a lower-case
// hex digit, 'V' one of 8 9 a b (the UUID variant), anything else itself. (No std::regex: GCC
// 12 warns inside it under the sanitizers, and warnings are errors.)
bool matches(std::string_view text, std::string_view pattern) {
  if (text.size() != pattern.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool digit = c >= '0' && c <= '9';
    const bool lower_hex = digit || (c >= 'a' && c <= 'f');
    bool ok;
    switch (pattern[i]) {
      case 'D':
        ok = digit;
        break;
      case 'X':
        ok = lower_hex || (c >= 'A' && c <= 'F');
        break;
      case 'h':
        ok = lower_hex;
        break;
      case 'V':
        ok = c == '8' || c == '9' || c == 'a' || c == 'b';
        break;
      default:
        ok = c == pattern[i];
    }
    if (!ok) return false;
  }
  return true;
}

bool is_uuid(const std::string& text) {
  return matches(text, "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX");
}

// "evt_" and 20 lower-case base-36 characters: the generator's opaque event_id.
bool is_opaque_id(const std::string& text) {
  if (text.size() != 24 || text.rfind("evt_", 0) != 0) return false;
  return std::all_of(text.begin() + 4, text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
  });
}

// A number with at most two decimals, as money must be.
bool is_cents(const json& value) {
  if (!value.is_number()) return false;
  const double scaled = value.get<double>() * 100.0;
  return std::fabs(scaled - std::round(scaled)) < 1e-6;
}

int64_t cents(const json& value) { return std::llround(value.get<double>() * 100.0); }

bool integer_in(const json& obj, const char* key, int64_t lo, int64_t hi) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() && it->get<int64_t>() >= lo &&
         it->get<int64_t>() <= hi;
}

// Well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t extra;
    uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
      code = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      code = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    if ((extra == 2 && code < 0x800) || (extra == 3 && code < 0x10000) || code > 0x10ffff ||
        (code >= 0xd800 && code <= 0xdfff)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

// True if some object in `line` (valid JSON) names a key twice; nlohmann would keep one.
bool has_duplicate_key(const std::string& line) {
  std::vector<std::set<std::string>> open;
  bool duplicate = false;
  json::parser_callback_t on_event = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open.emplace_back();
    if (event == json::parse_event_t::object_end && !open.empty()) open.pop_back();
    if (event == json::parse_event_t::key && !open.empty()) {
      duplicate |= !open.back().insert(parsed.get<std::string>()).second;
    }
    return true;
  };
  const json parsed = json::parse(line, on_event, false);
  return duplicate && !parsed.is_discarded();
}

// A contract timestamp: its UTC epoch ms and whether it had no zone.
struct ContractTime {
  int64_t ms;
  bool naive;
};

// The timestamps of the contract (../shared/spec/events.md): "YYYY-MM-DD", 'T' or one space,
// "HH:MM:SS", optionally '.' and 1 to 9 digits, optionally a zone Z, ±HH:MM, ±HHMM or ±HH.
// A zone-less time is read as UTC (the consumer's default zone). Real dates and times only.
std::optional<ContractTime> parse_contract_time(std::string_view text) {
  auto number = [&text](size_t at, size_t width) -> int {
    if (at + width > text.size()) return -1;
    int value = 0;
    for (size_t i = at; i < at + width; ++i) {
      if (text[i] < '0' || text[i] > '9') return -1;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != ' ') || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  const int year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const int hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 59) {
    return std::nullopt;
  }
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (day > kDays[static_cast<size_t>(month - 1)] + (month == 2 && leap ? 1 : 0)) {
    return std::nullopt;
  }
  size_t at = 19;
  int millis = 0;
  if (at < text.size() && text[at] == '.') {
    size_t digits = 0;
    while (at + 1 + digits < text.size() && text[at + 1 + digits] >= '0' &&
           text[at + 1 + digits] <= '9') {
      if (digits < 3) millis = millis * 10 + (text[at + 1 + digits] - '0');
      ++digits;
    }
    if (digits < 1 || digits > 9) return std::nullopt;
    for (size_t d = digits; d < 3; ++d) millis *= 10;
    at += 1 + digits;
  }
  int offset_minutes = 0;
  bool naive = false;
  if (at == text.size()) {
    naive = true;
  } else if (text[at] == 'Z' && at + 1 == text.size()) {
  } else if (text[at] == '+' || text[at] == '-') {
    const int sign = text[at] == '+' ? 1 : -1;
    const int hours = number(at + 1, 2);
    int minutes = 0;
    const size_t rest = text.size() - (at + 3);
    if (rest == 3 && text[at + 3] == ':') {
      minutes = number(at + 4, 2);
    } else if (rest == 2) {
      minutes = number(at + 3, 2);
    } else if (rest != 0) {
      return std::nullopt;
    }
    if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return std::nullopt;
    offset_minutes = sign * (hours * 60 + minutes);
  } else {
    return std::nullopt;
  }
  // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
  const int y = month <= 2 ? year - 1 : year;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return ContractTime{seconds * 1000 + millis, naive};
}

// "" if `obj[key]` is a string of 1..max_bytes bytes, else the reason code.
std::string string_rule(const json& obj, const char* key, size_t max_bytes = 200) {
  auto it = obj.find(key);
  if (it == obj.end()) return "missing_field";
  if (!it->is_string()) return "wrong_type";
  const auto& text = it->get_ref<const std::string&>();
  return text.empty() || text.size() > max_bytes ? "out_of_range" : "";
}

// "" if `obj[key]` is an integer in lo..hi (2.0 counts as an integer), else the reason code.
std::string integer_rule(const json& obj, const char* key, int64_t lo, int64_t hi) {
  auto it = obj.find(key);
  if (it == obj.end()) return "missing_field";
  if (!it->is_number()) return "wrong_type";
  const double value = it->get<double>();
  if (std::floor(value) != value) return "wrong_type";
  return value < static_cast<double>(lo) || value > static_cast<double>(hi) ? "out_of_range" : "";
}

// "" if `obj[key]` is a number ≥ 0, else the reason code.
std::string amount_rule(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return "missing_field";
  if (!it->is_number()) return "wrong_type";
  return it->get<double>() < 0 ? "out_of_range" : "";
}

// "" if the restaurant field (`key` or its alias) is one non-empty string, else the reason code.
std::string alias_rule(const json& obj, const char* key, const char* alias, size_t max_bytes) {
  const bool has_key = obj.contains(key);
  const bool has_alias = obj.contains(alias);
  if (has_key && has_alias && obj[key] != obj[alias]) return "conflicting_fields";
  return string_rule(obj, has_key || !has_alias ? key : alias, max_bytes);
}

// The rules of the input contract, ../shared/spec/events.md (fields the brief does not show are
// ignored): "" if `line` is a valid event, else the reason code (the names of
// src/decode/reasons.h). Independent of the project's decoder on purpose. A generated line has at
// most one defect, so the order of the checks does not decide its reason.
std::string refusal(const std::string& line) {
  if (!valid_utf8(line)) return "invalid_utf8";
  json obj = json::parse(line, nullptr, false);
  if (obj.is_discarded()) return "not_json";
  if (!obj.is_object()) return "not_object";
  if (has_duplicate_key(line)) return "duplicate_key";
  if (!obj.contains("event_type")) return "missing_field";
  if (!obj["event_type"].is_string()) return "wrong_type";
  const std::string type = obj["event_type"];
  if (type != "table_seated" && type != "order_placed" && type != "order_completed" &&
      type != "payment") {
    return "unknown_event_type";
  }
  if (!obj.contains("event_id")) return "missing_field";
  if (!obj["event_id"].is_string()) return "wrong_type";
  const auto& id = obj["event_id"].get_ref<const std::string&>();
  if (id.empty() || id.size() > 128) return "invalid_event_id";
  if (!obj.contains("timestamp")) return "missing_field";
  if (!obj["timestamp"].is_string() || !parse_contract_time(obj["timestamp"].get<std::string>())) {
    return "invalid_timestamp";
  }
  std::vector<std::string> why = {alias_rule(obj, "restaurant_id", "location_id", 64),
                                  alias_rule(obj, "restaurant_name", "location_name", 200),
                                  string_rule(obj, "table_id")};
  if (type == "table_seated") {
    why.push_back(integer_rule(obj, "party_size", 1, 100));
    why.push_back(string_rule(obj, "server_id"));
  } else if (type == "order_placed") {
    why.push_back(string_rule(obj, "server_id"));
    why.push_back(string_rule(obj, "order_id"));
    if (!obj.contains("items")) {
      why.push_back("missing_field");
    } else if (!obj["items"].is_array()) {
      why.push_back("wrong_type");
    } else if (obj["items"].empty()) {
      why.push_back("empty_items");
    } else if (obj["items"].size() > 200) {
      why.push_back("out_of_range");
    } else {
      for (const auto& item : obj["items"]) {
        if (!item.is_object()) {
          why.push_back("wrong_type");
          continue;
        }
        for (const char* key : {"item_id", "item_name", "category"}) {
          why.push_back(string_rule(item, key));
        }
        why.push_back(amount_rule(item, "price"));
        why.push_back(integer_rule(item, "quantity", 1, 1000));
      }
    }
    why.push_back(amount_rule(obj, "subtotal"));
  } else if (type == "order_completed") {
    why.push_back(string_rule(obj, "order_id"));
    why.push_back(amount_rule(obj, "kitchen_time_minutes"));
  } else {
    why.push_back(string_rule(obj, "order_id"));
    for (const char* key : {"subtotal", "tax", "tip", "total_amount"}) {
      why.push_back(amount_rule(obj, key));
    }
    why.push_back(string_rule(obj, "payment_method", 64));
  }
  for (const auto& reason : why) {
    if (!reason.empty()) return reason;
  }
  return "";
}

GeneratorOptions noisy_options(int64_t events) {
  GeneratorOptions options;
  options.seed = 11;
  options.max_events = events;
  options.conflict_rate = 0.01;
  options.renames = true;
  return options;
}

// ---- determinism ----

TEST(GeneratorDeterminism, SameSeedSameBytesOtherSeedOtherBytes) {
  const auto first = join(generate_lines(noisy_options(20000)));
  const auto again = join(generate_lines(noisy_options(20000)));
  EXPECT_EQ(first, again);
  auto other = noisy_options(20000);
  other.seed = 12;
  const auto different = join(generate_lines(other));
  EXPECT_NE(first, different);
  // Not merely shifted: the first lines (hence event_ids) differ too.
  EXPECT_NE(first.substr(0, 200), different.substr(0, 200));
}

TEST(GeneratorDeterminism, OtherStartGivesOtherEventIds) {
  auto options = noisy_options(2000);
  std::set<std::string> ids;
  for (const auto& line : generate_lines(options)) {
    if (line.kind == LineKind::kEvent) ids.insert(json::parse(line.text)["event_id"]);
  }
  options.start_ms += 86'400'000;
  for (const auto& line : generate_lines(options)) {
    if (line.kind == LineKind::kEvent) {
      EXPECT_EQ(ids.count(json::parse(line.text)["event_id"]), 0u) << line.text;
    }
  }
}

// The options that change how valid events are spelled, all on.
GeneratorOptions with_spellings(GeneratorOptions options) {
  options.naive_rate = 0.3;
  options.opaque_id_rate = 0.2;
  options.location_fields = true;
  return options;
}

TEST(GeneratorDeterminism, NoiseOnlyAddsLines) {
  // The distinct valid events do not depend on the noise rates, whatever their spelling.
  for (const bool spelled : {false, true}) {
    GeneratorOptions clean;
    clean.seed = 3;
    clean.max_events = 5000;
    clean.duplicate_rate = clean.late_rate = clean.malformed_rate = 0;
    if (spelled) clean = with_spellings(clean);
    std::vector<std::string> expected;
    for (const auto& line : generate_lines(clean)) {
      ASSERT_EQ(line.kind, LineKind::kEvent);
      expected.push_back(line.text);
    }
    GeneratorOptions noisy = clean;
    noisy.duplicate_rate = 0.1;
    noisy.late_rate = 0.05;
    noisy.malformed_rate = 0.05;
    noisy.conflict_rate = 0.05;
    std::set<std::string> seen;
    for (const auto& line : generate_lines(noisy)) {
      if (line.kind == LineKind::kEvent || line.kind == LineKind::kLate) seen.insert(line.text);
    }
    EXPECT_EQ(seen, std::set<std::string>(expected.begin(), expected.end())) << spelled;
  }
}

// Counts of the spellings found while undoing them (see unspell).
struct Spellings {
  int64_t events = 0;  // distinct valid events compared
  int64_t naive = 0;
  int64_t opaque = 0;
  int64_t location = 0;
};

// Checks that `spelled` (a valid line of a run with spelling options) is `plain` (the same line of
// the run without them) but for a zone-less timestamp, an opaque event_id and location_* names,
// each only where `options` asks for it, and counts them.
void expect_same_but_spelling(const std::string& spelled, const std::string& plain,
                              const GeneratorOptions& options, Spellings& counts) {
  const ordered_json original = ordered_json::parse(plain);
  ordered_json undone;
  const std::string ts = original["timestamp"];
  const std::string id = original["event_id"];
  bool naive = false;
  bool opaque = false;
  bool location = false;
  EXPECT_TRUE(is_uuid(id)) << plain;
  const ordered_json parsed = ordered_json::parse(spelled);
  for (const auto& [key, value] : parsed.items()) {
    if (key == "timestamp" && value != ts) {
      naive = true;
      EXPECT_TRUE(matches(value.get<std::string>(), "DDDD-DD-DDTDD:DD:DD.DDD000")) << spelled;
      EXPECT_EQ(value, ts.substr(0, ts.size() - 1) + "000") << "the same UTC wall time";
      undone[key] = ts;
    } else if (key == "event_id" && value != id) {
      opaque = true;
      EXPECT_TRUE(is_opaque_id(value.get<std::string>())) << spelled;
      undone[key] = id;
    } else if (key == "location_id" || key == "location_name") {
      location = true;
      undone[key == "location_id" ? "restaurant_id" : "restaurant_name"] = value;
    } else {
      undone[key] = value;
    }
  }
  EXPECT_EQ(undone.dump(), original.dump()) << spelled;
  EXPECT_EQ(location, options.location_fields) << spelled;
  if (options.naive_rate == 0) {
    EXPECT_FALSE(naive) << spelled;
  }
  if (options.opaque_id_rate == 0) {
    EXPECT_FALSE(opaque) << spelled;
  }
  counts.naive += naive;
  counts.opaque += opaque;
  counts.location += location;
}

TEST(GeneratorSpelling, EachOptionChangesOnlyItsSpellingInTheAskedShare) {
  const auto options = noisy_options(20000);
  const auto plain = generate_lines(options);
  auto naive = options;
  naive.naive_rate = 0.2;
  auto opaque = options;
  opaque.opaque_id_rate = 0.1;
  auto location = options;
  location.location_fields = true;
  auto all = options;
  all.naive_rate = 0.2;
  all.opaque_id_rate = 0.1;
  all.location_fields = true;
  for (const auto& spelled_options : {naive, opaque, location, all}) {
    const auto spelled = generate_lines(spelled_options);
    ASSERT_EQ(spelled.size(), plain.size());
    Spellings counts;
    for (size_t i = 0; i < plain.size(); ++i) {
      ASSERT_EQ(spelled[i].kind, plain[i].kind) << i;
      ASSERT_EQ(spelled[i].emit_ms, plain[i].emit_ms) << i;
      if (plain[i].kind == LineKind::kMalformed) {
        EXPECT_EQ(spelled[i].expected_reason, plain[i].expected_reason) << spelled[i].text;
        continue;
      }
      Spellings line_counts;
      expect_same_but_spelling(spelled[i].text, plain[i].text, spelled_options, line_counts);
      if (plain[i].kind == LineKind::kEvent || plain[i].kind == LineKind::kLate) {
        ++counts.events;
        counts.naive += line_counts.naive;
        counts.opaque += line_counts.opaque;
        counts.location += line_counts.location;
      }
    }
    const double events = static_cast<double>(counts.events);
    EXPECT_EQ(counts.events, 20000);
    EXPECT_NEAR(counts.naive / events, spelled_options.naive_rate, 0.015);
    EXPECT_NEAR(counts.opaque / events, spelled_options.opaque_id_rate, 0.01);
    EXPECT_EQ(counts.location, spelled_options.location_fields ? counts.events : 0);
  }
}

TEST(GeneratorSpelling, ZeroRatesAreTheDefaultBytes) {
  auto options = noisy_options(5000);
  const auto plain = join(generate_lines(options));
  options.naive_rate = 0;
  options.opaque_id_rate = 0;
  options.location_fields = false;
  EXPECT_EQ(join(generate_lines(options)), plain);
}

TEST(GeneratorSpelling, RatesOutsideZeroToOneAreRefused) {
  GeneratorOptions options;
  EXPECT_EQ(generate::check_options(options), "");
  options.naive_rate = 1.5;
  EXPECT_NE(generate::check_options(options), "");
  options.naive_rate = 1;
  options.opaque_id_rate = -0.1;
  EXPECT_NE(generate::check_options(options), "");
  options.opaque_id_rate = 1;
  EXPECT_EQ(generate::check_options(options), "");
}

// ---- format ----

// Every valid line of a noisy run has exactly the fields of the brief, in its order, with the
// generator's id and value shapes; `location_fields` names the restaurant fields location_*.
void expect_documented_fields(bool location_fields) {
  const std::string id_key = location_fields ? "location_id" : "restaurant_id";
  const std::string name_key = location_fields ? "location_name" : "restaurant_name";
  const std::vector<std::string> kCommon = {"event_id", "event_type", "timestamp", id_key,
                                            name_key,   "table_id"};
  auto with_common = [&kCommon](std::initializer_list<std::string> own) {
    std::vector<std::string> fields = kCommon;
    fields.insert(fields.end(), own);
    return fields;
  };
  const std::map<std::string, std::vector<std::string>> kFields = {
      {"table_seated", with_common({"party_size", "server_id"})},
      {"order_placed", with_common({"server_id", "order_id", "items", "subtotal"})},
      {"order_completed", with_common({"order_id", "kitchen_time_minutes"})},
      {"payment", with_common({"order_id", "subtotal", "tax", "tip", "total_amount",
                               "payment_method"})},
  };
  const std::vector<std::string> kItemFields = {"item_id", "item_name", "category", "price",
                                                "quantity"};
  const std::set<std::string> kCategories = {"starters", "mains", "desserts", "drinks", "sides"};
  auto keys_in_order = [](const ordered_json& obj) {
    std::vector<std::string> keys;
    for (auto it = obj.begin(); it != obj.end(); ++it) keys.push_back(it.key());
    return keys;
  };
  std::map<std::string, int> per_type;
  std::map<std::string, std::pair<std::string, std::string>> items;  // id -> name, category
  std::map<std::string, int64_t> prices;
  int valid = 0;
  auto options = noisy_options(30000);
  options.location_fields = location_fields;
  for (const auto& line : generate_lines(options)) {
    if (line.kind == LineKind::kMalformed) continue;
    ++valid;
    ASSERT_EQ(refusal(line.text), "") << line.text;
    ASSERT_FALSE(line.expected_reason) << line.text;
    const ordered_json obj = ordered_json::parse(line.text);
    const std::string type = obj["event_type"];
    ++per_type[type];
    ASSERT_TRUE(kFields.count(type)) << line.text;
    ASSERT_EQ(keys_in_order(obj), kFields.at(type)) << line.text;
    ASSERT_TRUE(matches(obj["event_id"].get<std::string>(), "hhhhhhhh-hhhh-4hhh-Vhhh-hhhhhhhhhhhh"))
        << line.text;
    const std::string ts = obj["timestamp"];
    auto ms = parse_rfc3339_ms(ts);
    ASSERT_TRUE(ms) << line.text;
    ASSERT_EQ(format_iso_ms(*ms), ts) << "not the canonical millisecond UTC form: " << ts;
    ASSERT_EQ(parse_contract_time(ts)->ms, *ms) << ts;
    ASSERT_TRUE(matches(obj[id_key].get<std::string>(), "r-DDD")) << line.text;
    if (type == "table_seated") {
      ASSERT_TRUE(integer_in(obj, "party_size", 1, 8)) << line.text;
    } else {
      ASSERT_TRUE(matches(obj["order_id"].get<std::string>(), "o-DDD-DDDDDD")) << line.text;
    }
    if (type == "table_seated" || type == "order_placed") {
      ASSERT_TRUE(matches(obj["server_id"].get<std::string>(), "s-DDD-DD")) << line.text;
    }
    if (type == "order_placed") {
      ASSERT_TRUE(is_cents(obj["subtotal"])) << line.text;
      for (const auto& item : obj["items"]) {
        ASSERT_EQ(keys_in_order(item), kItemFields) << line.text;
        ASSERT_TRUE(kCategories.count(item["category"])) << line.text;
        ASSERT_TRUE(is_cents(item["price"])) << line.text;
        ASSERT_GT(cents(item["price"]), 0) << line.text;
        auto [it, inserted] =
            items.emplace(item["item_id"], std::pair{item["item_name"], item["category"]});
        ASSERT_EQ(it->second, std::make_pair(item["item_name"].get<std::string>(),
                                             item["category"].get<std::string>()));
        auto [price, fresh] = prices.emplace(item["item_id"], cents(item["price"]));
        ASSERT_EQ(price->second, cents(item["price"])) << "one price per item";
      }
    }
    if (type == "payment") {
      for (const char* key : {"subtotal", "tax", "tip", "total_amount"}) {
        ASSERT_TRUE(is_cents(obj[key])) << line.text;
      }
    }
  }
  EXPECT_GT(valid, 30000);
  for (const auto& [type, fields] : kFields) EXPECT_GT(per_type[type], 3000) << type;
  EXPECT_GE(items.size(), 28u);  // ≈ 30 menu items all get ordered
  EXPECT_LE(items.size(), 40u);
  std::set<std::string> categories;
  for (const auto& [id, info] : items) categories.insert(info.second);
  EXPECT_EQ(categories, kCategories);
}

TEST(GeneratorFormat, ValidLinesHaveExactlyTheDocumentedFields) { expect_documented_fields(false); }

TEST(GeneratorFormat, LocationFieldsReplaceTheRestaurantFieldsWhenAsked) {
  expect_documented_fields(true);
}

TEST(GeneratorFormat, PaymentMethodsAreTheBriefsInTheirShares) {
  const std::map<std::string, double> kShares = {{"credit_card", 0.45},
                                                 {"debit_card", 0.20},
                                                 {"cash", 0.15},
                                                 {"mobile_payment", 0.15},
                                                 {"gift_card", 0.05}};
  std::map<std::string, int> methods;
  int payments = 0;
  for (const auto& line : generate_lines(noisy_options(60000))) {
    if (line.kind != LineKind::kEvent && line.kind != LineKind::kLate) continue;
    const json obj = json::parse(line.text);
    if (obj["event_type"] != "payment") continue;
    ++payments;
    ++methods[obj["payment_method"]];
  }
  ASSERT_GT(payments, 8000);
  for (const auto& [method, count] : methods) EXPECT_TRUE(kShares.count(method)) << method;
  for (const auto& [method, share] : kShares) {
    EXPECT_NEAR(static_cast<double>(methods[method]) / payments, share, 0.02) << method;
  }
}

TEST(GeneratorFormat, TheContractsValidVariationsPassTheValidator) {
  // The validator itself: the spellings events.md accepts, and near misses it refuses.
  for (const char* ts :
       {"2025-10-29T18:23:45.123Z", "2025-10-29T18:23:45.123456", "2025-10-29 18:23:45+02:00",
        "2025-10-29T18:23:45Z", "2025-10-29T18:23:45+0200", "2025-10-29T18:23:45-05",
        "2024-02-29T00:00:00.123456789Z"}) {
    EXPECT_TRUE(parse_contract_time(ts)) << ts;
  }
  EXPECT_EQ(parse_contract_time("2025-10-29 18:23:45+02:00")->ms,
            *parse_rfc3339_ms("2025-10-29T16:23:45Z"));
  EXPECT_TRUE(parse_contract_time("2025-10-29T18:23:45.123456")->naive);
  EXPECT_EQ(parse_contract_time("2025-10-29T18:23:45.123456")->ms,
            *parse_rfc3339_ms("2025-10-29T18:23:45.123Z"));
  for (const char* ts :
       {"2026-02-30T10:00:00Z", "2025-02-29T10:00:00Z", "29/10/2025 18:23:45",
        "2025-10-29T24:00:00Z", "2025-10-29T18:23:60Z", "2025-10-29", "1795518000",
        "2025-10-29T18:23:45.Z", "2025-10-29T18:23:45.1234567890Z", "2025-10-29T18:23:45+2",
        "2025-10-29t18:23:45z"}) {
    EXPECT_FALSE(parse_contract_time(ts)) << ts;
  }
  // The brief's table_seated with an opaque id, a zone-less time and the location_* names.
  const std::string seated =
      R"({"event_id":"evt_abc123","event_type":"table_seated",)"
      R"("timestamp":"2025-10-29T18:23:45.123","location_id":"rest_001",)"
      R"("location_name":"Downtown Location","table_id":"table_12","party_size":4,)"
      R"("server_id":"server_456"})";
  EXPECT_EQ(refusal(seated), "");
  const std::string both =
      R"({"event_id":"x","event_type":"table_seated","timestamp":"2025-10-29T18:23:45Z",)"
      R"("restaurant_id":"rest_001","location_id":"rest_001","restaurant_name":"D",)"
      R"("table_id":"t","party_size":4,"server_id":"s"})";
  EXPECT_EQ(refusal(both), "") << "both spellings with one value";
  EXPECT_EQ(refusal(R"({"a":1,"b":{"a":2}})"), "missing_field") << "one key per object";
  EXPECT_EQ(refusal(R"({"a":1,"b":{"c":2,"c":3}})"), "duplicate_key");
  EXPECT_EQ(refusal("{\"a\":\"caf\xc3\"}"), "invalid_utf8");
}

TEST(GeneratorFormat, MalformedLinesNameTheReasonTheyAreRefusedFor) {
  std::map<std::string, int> reasons;
  int malformed = 0;
  for (const bool spelled : {false, true}) {
    GeneratorOptions options;
    options.seed = 5;
    options.max_events = 40000;
    options.malformed_rate = 0.05;
    if (spelled) options = with_spellings(options);
    for (const auto& line : generate_lines(options)) {
      const std::string why = refusal(line.text);
      if (line.kind == LineKind::kMalformed) {
        ++malformed;
        ASSERT_TRUE(line.expected_reason) << line.text;
        EXPECT_EQ(decode::reason_code(*line.expected_reason), why) << line.text;
        ++reasons[why];
      } else {
        EXPECT_FALSE(line.expected_reason) << line.text;
        EXPECT_EQ(why, "") << line.text;
      }
    }
  }
  EXPECT_GT(malformed, 3000);
  for (const char* reason :
       {"not_json", "not_object", "missing_field", "wrong_type", "invalid_event_id",
        "invalid_timestamp", "unknown_event_type", "out_of_range", "empty_items",
        "conflicting_fields", "duplicate_key"}) {
    EXPECT_GT(reasons[reason], 50) << reason;
  }
  EXPECT_EQ(reasons.count(""), 0u);
}

// ---- pinned bytes ----

// FNV-1a over every line's text, emit time, kind and expected reason, then the stats: a digest
// of everything next_line() and stats() say, to pin the output of an option set.
uint64_t stream_digest(const GeneratorOptions& options, std::optional<int64_t> restart = {}) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto add = [&hash](std::string_view bytes) {
    for (char c : bytes) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 0x100000001b3ULL;
    }
    hash ^= 0xff;  // a separator no text ends with
    hash *= 0x100000001b3ULL;
  };
  Generator generator(options);
  if (restart) generator.restart_clock(*restart);
  while (auto line = generator.next_line()) {
    add(line->text);
    add(std::to_string(line->emit_ms));
    add(generate::line_kind_name(line->kind));
    add(line->expected_reason ? decode::reason_code(*line->expected_reason) : "-");
  }
  const auto& s = generator.stats();
  for (int64_t value : {s.lines, s.events, s.late, s.duplicates, s.conflicts, s.malformed,
                        s.first_event_ms, s.last_event_ms, static_cast<int64_t>(s.tables)}) {
    add(std::to_string(value));
  }
  return hash;
}

// Every option changes the stream somewhere; these digests were taken from the generator
// before it was split into simulation, wire format and noise, and any change of output bytes,
// emit times, kinds or expected reasons shows here. (A deliberate change of the output updates
// them, and says so.)
TEST(GeneratorPinned, OutputOfEachOptionSetIsUnchanged) {
  struct Case {
    const char* name;
    GeneratorOptions options;
    std::optional<int64_t> restart;
    uint64_t digest;
  };
  std::vector<Case> cases;
  auto add_case = [&cases](const char* name, uint64_t digest, auto edit,
                           std::optional<int64_t> restart = {}) {
    GeneratorOptions options;
    edit(options);
    cases.push_back({name, options, restart, digest});
  };
  add_case("defaults", 0x5dc60e1a0ec401dbULL, [](GeneratorOptions& o) { o.max_events = 20000; });
  add_case("readme sample", 0xa4cdd86c4df7b556ULL, [](GeneratorOptions& o) {
    o.seed = 42;
    o.duration_ms = 12 * 3'600'000LL;
    o.renames = true;
    o.naive_rate = 0.2;
    o.opaque_id_rate = 0.1;
  });
  add_case("heavy noise", 0x474574d843119afeULL, [](GeneratorOptions& o) {
    o.seed = 7;
    o.restaurants = 3;
    o.max_events = 30000;
    o.duplicate_rate = 0.1;
    o.late_rate = 0.1;
    o.max_late_ms = 120'000;
    o.malformed_rate = 0.05;
    o.conflict_rate = 0.05;
  });
  add_case("all spellings", 0x13252eac5f6e545bULL, [](GeneratorOptions& o) {
    o.seed = 9;
    o.restaurants = 12;
    o.duration_ms = 6 * 3'600'000LL;
    o.location_fields = true;
    o.naive_rate = 1.0;
    o.opaque_id_rate = 1.0;
    o.renames = true;
    o.rename_every_ms = 3'600'000;
    o.malformed_rate = 0.03;
    o.conflict_rate = 0.02;
  });
  add_case("target rate, other start", 0xb29718cae7aad1fULL, [](GeneratorOptions& o) {
    o.seed = 3;
    o.rush_hours = false;
    o.target_rate = 200;
    o.max_events = 20000;
    o.start_ms = 1735689600000;  // 2025-01-01T00:00:00Z
  });
  add_case(
      "warm start, restarted clock (live)", 0xfa537a5bf57520aeULL,
      [](GeneratorOptions& o) {
        o.seed = 4;
        o.warm_start = true;
        o.target_rate = 50;
        o.rush_hours = false;
        o.max_events = 10000;
        o.malformed_rate = 0.02;
        o.late_rate = 0.05;
      },
      generate::kDefaultStartMs + 12'345'678);
  add_case("clean", 0xcefd7c51c3b95f64ULL, [](GeneratorOptions& o) {
    o.seed = 123;
    o.restaurants = 1;
    o.max_events = 5000;
    o.duplicate_rate = 0;
    o.late_rate = 0;
    o.malformed_rate = 0;
  });
  add_case("malformed in mixed spellings", 0x5cf72dd82816beafULL, [](GeneratorOptions& o) {
    o.seed = 5;
    o.max_events = 40000;
    o.malformed_rate = 0.05;
    o.location_fields = true;
    o.naive_rate = 0.5;
    o.opaque_id_rate = 0.5;
  });
  add_case("many restaurants", 0x66537f60fe5c440fULL, [](GeneratorOptions& o) {
    o.seed = 8;
    o.restaurants = 1000;
    o.max_events = 20000;
    o.malformed_rate = 0.02;
    o.conflict_rate = 0.02;
  });
  add_case("duration and count", 0x729eaa4f18128efaULL, [](GeneratorOptions& o) {
    o.seed = 2;
    o.duration_ms = 2 * 3'600'000LL;
    o.max_events = 3000;
    o.renames = true;
    o.rename_every_ms = 60'000;
  });
  for (const auto& c : cases) {
    EXPECT_EQ(fmt::format("{:#x}", stream_digest(c.options, c.restart)),
              fmt::format("{:#x}", c.digest))
        << c.name;
  }
}

// ---- the pieces: wire format, noise, simulation ----

// One restaurant and order to write events of, with a name that needs escaping.
struct WireFixture {
  generate::Restaurant restaurant;
  generate::Items items;
  WireFixture() {
    restaurant.number = "001";
    restaurant.id = "r-001";
    restaurant.name = "Pulse \"Café\"";
    restaurant.table_width = 2;
    restaurant.servers = 3;
    restaurant.tax_bp = 850;
    items.lines = 2;
    items.item[0] = 6;  // m-burger, 14.50
    items.qty[0] = 2;
    items.item[1] = 26;  // m-cola, 3.25
    items.qty[1] = 1;
    items.subtotal_cents = 2 * 1450 + 325;
  }
  generate::SimEvent event(EventType type) const {
    generate::SimEvent ev;
    ev.type = type;
    ev.t = generate::kDefaultStartMs + 3'723'456;  // 2026-11-24T12:02:03.456Z
    ev.restaurant = &restaurant;
    ev.table = 6;
    ev.server = 2;
    ev.party_size = 4;
    ev.order_seq = 42;
    ev.items = &items;
    ev.kitchen_tenths = 187;
    ev.subtotal = items.subtotal_cents;
    ev.tax = 274;
    ev.tip = 500;
    ev.method = "cash";
    generate::make_uuid(0x0123456789abcdefULL, 0xfedcba9876543210ULL, ev);
    return ev;
  }
};

std::string write_line(generate::Wire& wire, const generate::SimEvent& ev, int tweak = 0) {
  fmt::memory_buffer out;
  out.append(std::string_view("stale contents"));  // write() replaces them
  wire.write(ev, tweak, out);
  return fmt::to_string(out);
}

TEST(GeneratorWire, EventIdsInBothForms) {
  generate::SimEvent ev;
  generate::make_uuid(0x0123456789abcdefULL, 0xfedcba9876543210ULL, ev);
  // Version nibble 4, variant bits 10: the rest of the two words as they are.
  EXPECT_EQ(std::string(ev.id, ev.id_size), "01234567-89ab-4def-bedc-ba9876543210");
  generate::make_opaque_id(35, 36, ev);
  EXPECT_EQ(std::string(ev.id, ev.id_size), "evt_z0000000000100000000");
}

TEST(GeneratorWire, EachTypeInEachSpellingIsTheBriefsLine) {
  const WireFixture f;
  const std::string uuid = R"({"event_id":"01234567-89ab-4def-bedc-ba9876543210",)";
  const std::string place = R"("restaurant_id":"r-001","restaurant_name":"Pulse \"Café\"",)";
  const std::string location = R"("location_id":"r-001","location_name":"Pulse \"Café\"",)";
  const std::string items =
      R"("items":[{"item_id":"m-burger","item_name":"Classic Burger","category":"mains",)"
      R"("price":14.5,"quantity":2},{"item_id":"m-cola","item_name":"Cola",)"
      R"("category":"drinks","price":3.25,"quantity":1}],"subtotal":32.25})";
  generate::Wire restaurant_wire(false);
  generate::Wire location_wire(true);

  auto seated = f.event(EventType::kTableSeated);
  EXPECT_EQ(write_line(restaurant_wire, seated),
            uuid + R"("event_type":"table_seated","timestamp":"2026-11-24T12:02:03.456Z",)" +
                place + R"("table_id":"T07","party_size":4,"server_id":"s-001-03"})");

  auto placed = f.event(EventType::kOrderPlaced);
  placed.naive = true;
  generate::make_opaque_id(35, 36, placed);
  EXPECT_EQ(write_line(location_wire, placed),
            R"({"event_id":"evt_z0000000000100000000","event_type":"order_placed",)"
            R"("timestamp":"2026-11-24T12:02:03.456000",)" +
                location + R"("table_id":"T07","server_id":"s-001-03","order_id":"o-001-000042",)" +
                items);

  auto completed = f.event(EventType::kOrderCompleted);
  completed.naive = true;
  EXPECT_EQ(write_line(restaurant_wire, completed),
            uuid + R"("event_type":"order_completed","timestamp":"2026-11-24T12:02:03.456000",)" +
                place +
                R"("table_id":"T07","order_id":"o-001-000042","kitchen_time_minutes":18.7})");

  auto payment = f.event(EventType::kPayment);
  EXPECT_EQ(write_line(location_wire, payment),
            uuid + R"("event_type":"payment","timestamp":"2026-11-24T12:02:03.456Z",)" + location +
                R"("table_id":"T07","order_id":"o-001-000042","subtotal":32.25,"tax":2.74,)"
                R"("tip":5,"total_amount":39.99,"payment_method":"cash"})");

  // The decoder accepts each, in both spellings, with the values written.
  decode::Decoder decoder;
  for (auto* wire : {&restaurant_wire, &location_wire}) {
    for (const auto* ev : {&seated, &placed, &completed, &payment}) {
      const std::string text = write_line(*wire, *ev);
      auto result = decoder.decode(text);
      ASSERT_TRUE(std::holds_alternative<decode::Decoded>(result)) << text;
      const auto& event = std::get<decode::Decoded>(result).event;
      EXPECT_EQ(event.ts_ms, ev->t) << text;
      EXPECT_EQ(event.restaurant_id, "r-001");
      EXPECT_EQ(event.restaurant_name, "Pulse \"Café\"");
      EXPECT_EQ(event.table_id, "T07");
      EXPECT_EQ(std::get<decode::Decoded>(result).naive_timestamp, ev->naive);
    }
  }
}

TEST(GeneratorWire, AConflictChangesOneValueAndStaysConsistent) {
  const WireFixture f;
  generate::Wire wire(false);
  const std::string tail_of[] = {
      R"("party_size":5,"server_id":"s-001-03"})",
      R"("quantity":3},{"item_id":"m-cola","item_name":"Cola","category":"drinks","price":3.25,)"
      R"("quantity":1}],"subtotal":46.75})",
      R"("kitchen_time_minutes":20.2})",
      R"("subtotal":32.25,"tax":2.74,"tip":6,"total_amount":40.99,"payment_method":"cash"})"};
  size_t i = 0;
  for (EventType type : {EventType::kTableSeated, EventType::kOrderPlaced,
                         EventType::kOrderCompleted, EventType::kPayment}) {
    const auto ev = f.event(type);
    const std::string same = write_line(wire, ev);
    const std::string conflict = write_line(wire, ev, 1);
    EXPECT_NE(same, conflict);
    EXPECT_TRUE(conflict.ends_with(tail_of[i])) << conflict;
    EXPECT_EQ(refusal(conflict), "") << conflict;
    EXPECT_EQ(same.substr(0, 60), conflict.substr(0, 60));  // same event_id, type and time
    ++i;
  }
  // A party of 8 (the most) gets one fewer, not 9.
  auto eight = f.event(EventType::kTableSeated);
  eight.party_size = 8;
  EXPECT_TRUE(write_line(wire, eight, 1).ends_with(R"("party_size":7,"server_id":"s-001-03"})"));
}

// Copies of the first events of a simulation, their items kept with them.
class Collect final : public generate::EventSink {
 public:
  void on_clock(int64_t now) override {
    EXPECT_GE(now, last_clock);
    last_clock = now;
  }
  void on_event(generate::SimEvent& ev) override {
    events.push_back(ev);
    if (ev.items != nullptr) {
      items.push_back(*ev.items);
      events.back().items = &items.back();
    }
  }
  std::vector<generate::SimEvent> events;
  std::deque<generate::Items> items;
  int64_t last_clock = INT64_MIN;
};

TEST(GeneratorSimulation, YieldsTypedEventsInTimeOrderOnePerValidEvent) {
  GeneratorOptions options;
  options.seed = 21;
  options.duration_ms = 3 * 3'600'000LL;
  options.duplicate_rate = options.late_rate = options.malformed_rate = 0;
  generate::Simulation sim(options);
  Collect collect;
  while (!sim.finished()) sim.step(collect);
  ASSERT_GT(collect.events.size(), 500u);
  std::map<EventType, int> by_type;
  for (size_t i = 0; i < collect.events.size(); ++i) {
    const auto& ev = collect.events[i];
    if (i > 0) {
      EXPECT_GE(ev.t, collect.events[i - 1].t);
    }
    EXPECT_GE(ev.t, options.start_ms);
    EXPECT_LT(ev.t, options.start_ms + options.duration_ms);
    EXPECT_EQ(ev.id_size, 0) << "the spelling is not the simulation's";
    ++by_type[ev.type];
  }
  EXPECT_EQ(by_type.size(), 4u);
  EXPECT_EQ(sim.restaurants().size(), 5u);
  // The generator writes exactly these events: one line each.
  generate::GeneratorStats stats;
  const auto lines = generate_lines(options, &stats);
  EXPECT_EQ(stats.events, static_cast<int64_t>(collect.events.size()));
  EXPECT_EQ(lines.size(), collect.events.size());
  EXPECT_EQ(stats.tables, sim.tables());
}

TEST(GeneratorNoise, DecisionsFollowTheRatesAndDelaysStayInTheirBounds) {
  GeneratorOptions none;
  none.duplicate_rate = none.late_rate = none.malformed_rate = none.conflict_rate = 0;
  generate::Noise quiet(none);
  GeneratorOptions all = none;
  all.duplicate_rate = all.late_rate = all.malformed_rate = all.conflict_rate = 1;
  all.max_late_ms = 60'000;
  generate::Noise loud(all);
  for (int i = 0; i < 2000; ++i) {
    const auto q = quiet.decide();
    EXPECT_FALSE(q.late || q.duplicate || q.conflict || q.malformed);
    const auto d = loud.decide();
    ASSERT_TRUE(d.late && d.duplicate && d.conflict && d.malformed);
    EXPECT_GE(d.late_by_ms, 12'000);  // a fifth of max_late at least
    EXPECT_LE(d.late_by_ms, 60'000);
    EXPECT_GE(d.duplicate_after_ms, 100);
    EXPECT_LE(d.duplicate_after_ms, 120'000);
    EXPECT_GE(d.conflict_after_ms, 1'000);
    EXPECT_LE(d.conflict_after_ms, 600'000);
  }
}

// Every malformation kind, on events of every type and in both spellings: the project's
// decoder and the independent contract check both refuse it for exactly the reason it names,
// and over its variants it names exactly the reasons listed for it here.
TEST(GeneratorNoise, EachMalformationIsRefusedByTheDecoderForTheReasonItNames) {
  using generate::Malformation;
  const std::map<Malformation, std::set<std::string>> expected = {
      {Malformation::kCutShort, {"not_json"}},
      {Malformation::kGarbage, {"not_json"}},
      {Malformation::kNotAnObject, {"not_object"}},
      {Malformation::kCommonFieldMissing, {"missing_field"}},
      {Malformation::kTypeFieldMissing, {"missing_field"}},
      {Malformation::kBadEventId, {"invalid_event_id", "wrong_type"}},
      {Malformation::kBadTimestamp, {"invalid_timestamp"}},
      {Malformation::kUnknownType, {"unknown_event_type"}},
      {Malformation::kCommonFieldWrongType, {"wrong_type"}},
      {Malformation::kEmptyOrLongString, {"out_of_range"}},
      {Malformation::kBothSpellings, {"conflicting_fields"}},
      {Malformation::kKeyTwice, {"duplicate_key"}},
      {Malformation::kBadPartySize, {"out_of_range", "wrong_type"}},
      {Malformation::kNegativePrice, {"out_of_range"}},
      {Malformation::kNoItems, {"empty_items"}},
      {Malformation::kBrokenItem, {"out_of_range", "wrong_type", "missing_field"}},
      {Malformation::kBadKitchenTime, {"out_of_range", "wrong_type"}},
      {Malformation::kBadPayment, {"out_of_range", "wrong_type"}},
  };
  ASSERT_EQ(expected.size(), static_cast<size_t>(generate::kMalformationCount));
  std::map<Malformation, std::set<std::string>> named;
  decode::Decoder decoder;
  for (const bool location_fields : {false, true}) {
    GeneratorOptions options;
    options.seed = 17;
    options.duration_ms = 3 * 3'600'000LL;
    options.location_fields = location_fields;
    generate::Simulation sim(options);
    Collect collect;
    while (!sim.finished() && collect.events.size() < 600) sim.step(collect);
    ASSERT_EQ(collect.events.size(), 600u);
    generate::Rng ids(3);
    for (auto& ev : collect.events) generate::choose_spelling(ids, 0.5, 0.5, ev);
    generate::Wire wire(location_fields);
    generate::Noise noise(options);
    for (int k = 0; k < generate::kMalformationCount; ++k) {
      const auto kind = static_cast<Malformation>(k);
      for (size_t i = 0; i < 80; ++i) {
        // Sources of every type: the typed kinds turn them into their own type.
        const auto& source = collect.events[(i * 7 + static_cast<size_t>(k)) % 600];
        const generate::Malformed bad = noise.malformed(source, kind, wire);
        const std::string code(decode::reason_code(bad.reason));
        auto result = decoder.decode(bad.text);
        ASSERT_TRUE(std::holds_alternative<decode::Rejection>(result)) << k << ": " << bad.text;
        EXPECT_EQ(decode::reason_code(std::get<decode::Rejection>(result).reason), code)
            << k << ": " << bad.text;
        EXPECT_EQ(refusal(bad.text), code) << k << ": " << bad.text;
        named[kind].insert(code);
        // A typed kind's line is of its type (where it still names one).
        const auto type = generate::malformation_type(kind);
        const json parsed = json::parse(bad.text, nullptr, false);
        if (type && parsed.is_object() && parsed.contains("event_type") &&
            parsed["event_type"].is_string()) {
          EXPECT_EQ(parsed["event_type"].get<std::string>(), event_type_name(*type)) << bad.text;
        }
      }
    }
  }
  for (const auto& [kind, reasons] : expected) {
    EXPECT_EQ(named[kind], reasons) << "kind " << static_cast<int>(kind);
  }
}

// ---- money ----

TEST(GeneratorMoney, PaymentsAddUpToTheCentAndMatchTheirOrder) {
  std::unordered_map<std::string, int64_t> order_subtotal;
  int payments = 0;
  int tipped = 0;
  for (const auto& line : generate_lines(noisy_options(40000))) {
    if (line.kind != LineKind::kEvent && line.kind != LineKind::kLate) continue;
    const json obj = json::parse(line.text);
    if (obj["event_type"] == "order_placed") {
      int64_t sum = 0;
      for (const auto& item : obj["items"])
        sum += item["quantity"].get<int64_t>() * cents(item["price"]);
      ASSERT_EQ(cents(obj["subtotal"]), sum) << line.text;
      order_subtotal[obj["order_id"]] = sum;
    } else if (obj["event_type"] == "payment") {
      ++payments;
      const int64_t subtotal = cents(obj["subtotal"]);
      const int64_t tax = cents(obj["tax"]);
      const int64_t tip = cents(obj["tip"]);
      ASSERT_EQ(cents(obj["total_amount"]), subtotal + tax + tip) << line.text;
      auto placed = order_subtotal.find(obj["order_id"]);
      // A late order_placed may come after its payment in the file; most are known.
      if (placed != order_subtotal.end()) {
        ASSERT_EQ(placed->second, subtotal) << line.text;
      }
      ASSERT_GE(tax, std::llround(subtotal * 0.08) - 1) << line.text;
      ASSERT_LE(tax, std::llround(subtotal * 0.10) + 1) << line.text;
      ASSERT_GE(tip, 0) << line.text;
      ASSERT_LE(tip, std::llround(subtotal * 0.25) + 1) << line.text;
      tipped += tip > 0;
    }
  }
  EXPECT_GT(payments, 5000);
  EXPECT_GT(tipped, payments * 8 / 10);
  EXPECT_LT(tipped, payments);  // some leave no tip
}

// ---- noise ----

TEST(GeneratorNoise, DuplicatesAreByteIdenticalToAnEarlierLine) {
  // Whatever the spelling: a redelivery repeats its first delivery's zone and id form too.
  for (const bool spelled : {false, true}) {
    generate::GeneratorStats stats;
    const auto options = spelled ? with_spellings(noisy_options(40000)) : noisy_options(40000);
    const auto lines = generate_lines(options, &stats);
    std::unordered_set<std::string> seen;
    std::unordered_map<std::string, std::string> by_id;
    int duplicates = 0;
    int conflicts = 0;
    for (const auto& line : lines) {
      if (line.kind == LineKind::kMalformed) continue;
      const bool repeat = seen.count(line.text) > 0;
      EXPECT_EQ(repeat, line.kind == LineKind::kDuplicate) << line.text;
      duplicates += repeat;
      seen.insert(line.text);
      const std::string id = json::parse(line.text)["event_id"];
      auto [it, fresh] = by_id.emplace(id, line.text);
      if (line.kind == LineKind::kConflict) {
        ++conflicts;
        EXPECT_FALSE(fresh) << "a conflict redelivers a known event_id: " << line.text;
        EXPECT_NE(it->second, line.text);
        EXPECT_EQ(refusal(line.text), "") << "a conflicting redelivery is still a valid event";
      } else if (line.kind != LineKind::kDuplicate) {
        EXPECT_TRUE(fresh) << "event_id reused by a new event: " << line.text;
      }
    }
    EXPECT_EQ(duplicates, stats.duplicates) << spelled;
    EXPECT_EQ(conflicts, stats.conflicts) << spelled;
    EXPECT_GT(duplicates, 0) << spelled;
    EXPECT_GT(conflicts, 0) << spelled;
  }
}

TEST(GeneratorNoise, RatesAreRoughlyRespected) {
  GeneratorOptions options;
  options.seed = 99;
  options.max_events = 200000;
  options.duplicate_rate = 0.02;
  options.late_rate = 0.01;
  options.malformed_rate = 0.005;
  options.conflict_rate = 0.003;
  std::map<LineKind, int64_t> kinds;
  generate::GeneratorStats stats;
  for (const auto& line : generate_lines(options, &stats)) ++kinds[line.kind];
  const double events = static_cast<double>(stats.events);
  EXPECT_EQ(stats.events, 200000);
  EXPECT_EQ(kinds[LineKind::kEvent] + kinds[LineKind::kLate], stats.events);
  EXPECT_EQ(kinds[LineKind::kLate], stats.late);
  EXPECT_EQ(kinds[LineKind::kDuplicate], stats.duplicates);
  EXPECT_EQ(kinds[LineKind::kMalformed], stats.malformed);
  EXPECT_EQ(kinds[LineKind::kConflict], stats.conflicts);
  EXPECT_NEAR(stats.duplicates / events, 0.02, 0.002);
  EXPECT_NEAR(stats.late / events, 0.01, 0.0015);
  EXPECT_NEAR(stats.malformed / events, 0.005, 0.001);
  EXPECT_NEAR(stats.conflicts / events, 0.003, 0.001);
  EXPECT_EQ(stats.lines, stats.events + stats.duplicates + stats.malformed + stats.conflicts);
}

TEST(GeneratorNoise, FileIsTimeOrderedExceptLateAndRedeliveredLines) {
  auto options = noisy_options(40000);
  options.late_rate = 0.02;
  options.max_late_ms = 5 * 60'000;
  int64_t newest = 0;
  int late_behind = 0;
  int late = 0;
  for (const auto& line : generate_lines(options)) {
    if (line.kind == LineKind::kMalformed) continue;
    const int64_t ts = *parse_rfc3339_ms(json::parse(line.text)["timestamp"].get<std::string>());
    switch (line.kind) {
      case LineKind::kEvent:
        ASSERT_GE(ts, newest) << "an on-time event goes back in time: " << line.text;
        break;
      case LineKind::kLate:
        ++late;
        ASSERT_LE(newest - ts, options.max_late_ms) << line.text;
        late_behind += newest - ts > 60'000;  // late in the data-quality sense
        break;
      default:
        ASSERT_LE(ts, newest) << "a redelivery comes after the original";
        break;
    }
    newest = std::max(newest, ts);
  }
  EXPECT_GT(late, 500);
  EXPECT_GT(late_behind, late * 8 / 10);
}

// ---- simulation ----

struct Seen {
  int64_t ts;
  json obj;
};

TEST(GeneratorSimulation, CausalOrderAndRealisticTimingsPerOrder) {
  GeneratorOptions options;  // a default service day
  options.seed = 21;
  options.duration_ms = 12 * 3'600'000LL;
  std::map<std::string, std::vector<Seen>> seatings;  // restaurant/table -> seatings
  std::map<std::string, Seen> placed, completed, paid;
  std::map<int, int> per_hour;
  for (const auto& line : generate_lines(options)) {
    if (line.kind != LineKind::kEvent && line.kind != LineKind::kLate) continue;
    json obj = json::parse(line.text);
    const int64_t ts = *parse_rfc3339_ms(obj["timestamp"].get<std::string>());
    ASSERT_GE(ts, options.start_ms);
    ASSERT_LT(ts, options.start_ms + options.duration_ms);
    ++per_hour[static_cast<int>((ts / 3'600'000) % 24)];
    const std::string type = obj["event_type"];
    const std::string table =
        obj["restaurant_id"].get<std::string>() + "/" + obj["table_id"].get<std::string>();
    if (type == "table_seated") {
      seatings[table].push_back({ts, obj});
      continue;
    }
    const std::string order = obj["order_id"];
    auto& target = type == "order_placed" ? placed : type == "order_completed" ? completed : paid;
    ASSERT_TRUE(target.emplace(order, Seen{ts, obj}).second) << "one " << type << " per order";
  }
  for (auto& [table, list] : seatings) {
    std::sort(list.begin(), list.end(), [](const Seen& a, const Seen& b) { return a.ts < b.ts; });
  }
  int seat_to_order_ok = 0;
  for (const auto& [order, p] : placed) {
    const std::string table =
        p.obj["restaurant_id"].get<std::string>() + "/" + p.obj["table_id"].get<std::string>();
    const auto& list = seatings[table];
    const Seen* seat = nullptr;
    for (const auto& s : list) {
      if (s.ts <= p.ts) seat = &s;
    }
    ASSERT_NE(seat, nullptr) << "order " << order << " placed with nobody seated";
    const double minutes = (p.ts - seat->ts) / 60000.0;
    EXPECT_GE(minutes, 3.0) << order;
    seat_to_order_ok += minutes <= 15.0;  // second rounds come later
  }
  EXPECT_GT(seat_to_order_ok, static_cast<int>(placed.size()) * 7 / 10);
  int never_completed = 0;
  for (const auto& [order, p] : placed) never_completed += completed.count(order) == 0;
  for (const auto& [order, c] : completed) {
    ASSERT_TRUE(placed.count(order)) << order;
    const auto& p = placed.at(order);
    ASSERT_EQ(c.obj["table_id"], p.obj["table_id"]);
    const double elapsed = (c.ts - p.ts) / 60000.0;
    EXPECT_GE(elapsed, 8.0) << order;
    EXPECT_LE(elapsed, 30.0) << order;
    EXPECT_NEAR(c.obj["kitchen_time_minutes"].get<double>(), elapsed, 1.5) << order;
  }
  int completed_unpaid = 0;
  for (const auto& [order, c] : completed) completed_unpaid += paid.count(order) == 0;
  for (const auto& [order, y] : paid) {
    ASSERT_TRUE(completed.count(order)) << "paid before completion: " << order;
    ASSERT_EQ(y.obj["table_id"], placed.at(order).obj["table_id"]);
    EXPECT_GE((y.ts - completed.at(order).ts) / 60000.0, 5.0) << order;
  }
  int seatings_total = 0;
  int reused_tables = 0;
  for (const auto& [table, list] : seatings) {
    seatings_total += static_cast<int>(list.size());
    reused_tables += list.size() > 1;
  }
  // Some parties walk out, some orders never complete, some are never paid; tables turn over.
  EXPECT_GT(seatings_total, static_cast<int>(placed.size()) * 7 / 10);
  EXPECT_GT(never_completed, 0);
  EXPECT_GT(completed_unpaid, 0);
  EXPECT_GT(reused_tables, 40);
  EXPECT_GT(placed.size(), 700u);
  EXPECT_GT(paid.size(), placed.size() * 7 / 10);
  // Lunch and dinner rush.
  EXPECT_GT(per_hour[13], per_hour[16] * 1.3);
  EXPECT_GT(per_hour[20], per_hour[16] * 1.3);
}

TEST(GeneratorSimulation, StopsAtTheEventCountOrTheDuration) {
  GeneratorOptions options;
  options.max_events = 1234;
  generate::GeneratorStats stats;
  std::set<std::string> ids;
  for (const auto& line : generate_lines(options, &stats)) {
    if (line.kind != LineKind::kMalformed) ids.insert(json::parse(line.text)["event_id"]);
  }
  EXPECT_EQ(stats.events, 1234);
  EXPECT_EQ(ids.size(), 1234u);

  GeneratorOptions timed;
  timed.duration_ms = 2 * 3'600'000;
  timed.start_ms = *parse_rfc3339_ms("2026-11-24T18:00:00Z");
  int64_t low = INT64_MAX;
  int64_t high = 0;
  for (const auto& line : generate_lines(timed, &stats)) {
    if (line.kind == LineKind::kMalformed) continue;
    const int64_t ts = *parse_rfc3339_ms(json::parse(line.text)["timestamp"].get<std::string>());
    low = std::min(low, ts);
    high = std::max(high, ts);
  }
  EXPECT_GT(stats.events, 300);
  EXPECT_GE(low, timed.start_ms);
  EXPECT_LT(low, timed.start_ms + 5 * 60'000);
  EXPECT_LT(high, timed.start_ms + timed.duration_ms);
  EXPECT_GT(high, timed.start_ms + timed.duration_ms - 5 * 60'000);
}

TEST(GeneratorSimulation, RestaurantsAreRenamedOnlyWhenAsked) {
  auto names_per_restaurant = [](bool renames) {
    GeneratorOptions options;
    options.restaurants = 3;
    options.renames = renames;
    options.rename_every_ms = 3'600'000;
    options.duration_ms = 12 * 3'600'000LL;
    std::map<std::string, std::set<std::string>> names;
    for (const auto& line : generate_lines(options)) {
      if (line.kind == LineKind::kMalformed) continue;
      const json obj = json::parse(line.text);
      names[obj["restaurant_id"]].insert(obj["restaurant_name"]);
    }
    return names;
  };
  const auto fixed = names_per_restaurant(false);
  ASSERT_EQ(fixed.size(), 3u);
  for (const auto& [id, names] : fixed) EXPECT_EQ(names.size(), 1u) << id;
  EXPECT_EQ(*fixed.at("r-001").begin(), "Pulse Downtown");
  const auto renamed = names_per_restaurant(true);
  int changed = 0;
  for (const auto& [id, names] : renamed) changed += names.size() > 1;
  EXPECT_GE(changed, 2);
}

TEST(GeneratorSimulation, TargetRateSizesTheStreamAndWarmStartBeginsMidService) {
  GeneratorOptions options;
  options.target_rate = 20;
  options.rush_hours = false;
  options.warm_start = true;
  options.duration_ms = 10 * 60'000;
  options.duplicate_rate = options.late_rate = options.malformed_rate = 0;
  Generator generator(options);
  const int64_t start = *parse_rfc3339_ms("2027-01-05T03:00:00Z");
  generator.restart_clock(start);
  std::map<std::string, int> types;
  int64_t low = INT64_MAX;
  while (auto line = generator.next_line()) {
    const json obj = json::parse(line->text);
    const int64_t ts = *parse_rfc3339_ms(obj["timestamp"].get<std::string>());
    EXPECT_EQ(ts, line->emit_ms);
    low = std::min(low, ts);
    ++types[obj["event_type"]];
  }
  const double rate = generator.stats().events / 600.0;
  EXPECT_NEAR(rate, 20.0, 3.0);
  EXPECT_GE(low, start);
  EXPECT_LT(low, start + 5000);
  // Mid-service from the first minutes: every type, payments included.
  for (const char* type : {"table_seated", "order_placed", "order_completed", "payment"}) {
    EXPECT_GT(types[type], 500) << type;
  }
}

// ---- the command ----

std::string generate_command(const std::string& flags) {
  return test::tablepulse_binary() + " generate " + flags;
}

TEST(GeneratorCli, SameSeedSameBytesAndOutputFile) {
  auto first = test::run_command(generate_command("--seed 5 --events 3000 2>/dev/null"));
  auto again = test::run_command(generate_command("--seed 5 --events 3000 2>/dev/null"));
  // The spelling options at 0 (their defaults) change nothing.
  auto zero_rates = test::run_command(generate_command(
      "--seed 5 --events 3000 --naive-rate 0 --opaque-id-rate 0 2>/dev/null"));
  auto other = test::run_command(generate_command("--seed 6 --events 3000 2>/dev/null"));
  ASSERT_EQ(first.status, 0);
  EXPECT_EQ(first.out, again.out);
  EXPECT_EQ(first.out, zero_rates.out);
  EXPECT_NE(first.out, other.out);
  EXPECT_GT(std::count(first.out.begin(), first.out.end(), '\n'), 3000);
  // The library gives the same bytes.
  GeneratorOptions options;
  options.seed = 5;
  options.max_events = 3000;
  options.duration_ms = 0;
  EXPECT_EQ(join(generate_lines(options)), first.out);

  test::TempDir dir;
  const std::string path = dir.str() + "/events.jsonl";
  auto to_file = test::run_command(
      generate_command("--seed 5 --events 3000 --output " + path + " 2>" + dir.str() + "/err"));
  ASSERT_EQ(to_file.status, 0);
  EXPECT_EQ(to_file.out, "");
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), first.out);
  std::ifstream err(dir.str() + "/err");
  std::stringstream summary;
  summary << err.rdbuf();
  EXPECT_NE(summary.str().find("3000 events"), std::string::npos) << summary.str();
  EXPECT_NE(summary.str().find("duplicates"), std::string::npos) << summary.str();
}

TEST(GeneratorCli, SampleDataIsWhatTheReadmeCommandMakes) {
  const std::string root = TABLEPULSE_SOURCE_DIR;
  std::ifstream readme(root + "/README.md");
  std::string line;
  std::string command;
  bool in_section = false;
  while (std::getline(readme, line)) {
    if (line.rfind("## ", 0) == 0) in_section = line == "## Sample data";
    if (in_section && line.rfind("build/tablepulse generate ", 0) == 0) command = line;
  }
  ASSERT_NE(command, "") << "README.md: no command in the Sample data section";
  const std::string output_flag = " --output data/sample_events.jsonl";
  const auto at = command.find(output_flag);
  ASSERT_NE(at, std::string::npos) << command;
  command.erase(at, output_flag.size());
  command.replace(0, std::string("build/tablepulse").size(), test::tablepulse_binary());
  auto made = test::run_command(command + " 2>/dev/null");
  ASSERT_EQ(made.status, 0) << command;
  std::ifstream sample(root + "/data/sample_events.jsonl");
  std::stringstream committed;
  committed << sample.rdbuf();
  EXPECT_TRUE(made.out == committed.str())
      << "data/sample_events.jsonl is stale: regenerate it with the README command";
  const auto lines = std::count(made.out.begin(), made.out.end(), '\n');
  EXPECT_GE(lines, 3000);
  EXPECT_LE(lines, 5000);
}

TEST(GeneratorCli, RejectsBadFlags) {
  EXPECT_NE(test::run_command(generate_command("--duration 2x 2>/dev/null")).status, 0);
  EXPECT_NE(test::run_command(generate_command("--start 2026-11-24T11:00:00 2>/dev/null")).status,
            0);
  EXPECT_NE(test::run_command(generate_command("--late-rate 1.5 2>/dev/null")).status, 0);
  EXPECT_NE(test::run_command(generate_command("--naive-rate 1.5 2>/dev/null")).status, 0);
  EXPECT_NE(test::run_command(generate_command("--opaque-id-rate -0.5 2>/dev/null")).status, 0);
}

TEST(GeneratorCli, SpellingFlagsReachTheGenerator) {
  auto result = test::run_command(generate_command(
      "--seed 5 --events 500 --naive-rate 1 --opaque-id-rate 1 --location-fields "
      "--malformed-rate 0 2>/dev/null"));
  ASSERT_EQ(result.status, 0);
  std::istringstream lines(result.out);
  std::string line;
  int valid = 0;
  while (std::getline(lines, line)) {
    ASSERT_EQ(refusal(line), "") << line;
    const json obj = json::parse(line);
    EXPECT_TRUE(is_opaque_id(obj["event_id"])) << line;
    EXPECT_TRUE(parse_contract_time(obj["timestamp"].get<std::string>())->naive) << line;
    EXPECT_TRUE(obj.contains("location_id") && !obj.contains("restaurant_id")) << line;
    ++valid;
  }
  EXPECT_GE(valid, 500);
  const auto help = test::run_command(generate_command("--help"));
  for (const char* flag : {"--naive-rate", "--opaque-id-rate", "--location-fields"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  }
}

TEST(GeneratorCli, LiveModeFinishesWithTimestampsNearNow) {
  const int64_t before = now_ms();
  auto result =
      test::run_command(generate_command("--live --rate 400 --events 200 --seed 9 2>/dev/null"));
  const int64_t after = now_ms();
  ASSERT_EQ(result.status, 0);
  EXPECT_LT(after - before, 30'000);
  std::istringstream lines(result.out);
  std::string line;
  int events = 0;
  int near = 0;
  while (std::getline(lines, line)) {
    if (!refusal(line).empty()) continue;
    ++events;
    const int64_t ts = *parse_rfc3339_ms(json::parse(line)["timestamp"].get<std::string>());
    EXPECT_LE(ts, after + 1000) << line;
    EXPECT_GE(ts, before - 10 * 60'000) << line;  // a late line is at most --max-late behind
    near += ts >= before - 1000;
  }
  EXPECT_GE(events, 200);
  EXPECT_GE(near, events * 9 / 10);
}

TEST(GeneratorCli, LiveModeEndsCleanlyOnSigint) {
  test::TempDir dir;
  const std::string path = dir.str() + "/live.jsonl";
  // --preserve-status: the exit status is the generator's own after SIGINT.
  auto result =
      test::run_command("timeout --preserve-status -s INT 2 " +
                        generate_command("--live --rate 100 --output " + path + " 2>/dev/null"));
  EXPECT_EQ(result.status, 0);
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  std::istringstream lines(content.str());
  std::string line;
  int valid = 0;
  while (std::getline(lines, line)) valid += refusal(line).empty();
  EXPECT_GT(valid, 20);
  ASSERT_FALSE(content.str().empty());
  EXPECT_EQ(content.str().back(), '\n') << "the last line is complete";
}

}  // namespace
}  // namespace tp
