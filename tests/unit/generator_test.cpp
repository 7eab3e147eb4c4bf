// The mock event stream: determinism, the exact shape of docs/EVENTS.md, money that adds up, a
// plausible simulation (causal order, timings), the noise it promises, the CLI and live mode.
#include "generate/generator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/time.h"
#include "test_support.h"

namespace tp {
namespace {

using generate::Generator;
using generate::GeneratorOptions;
using generate::LineKind;
using nlohmann::json;

struct Emitted {
  std::string text;
  LineKind kind;
  int64_t emit_ms;
};

std::vector<Emitted> generate_lines(const GeneratorOptions& options,
                                    generate::GeneratorStats* stats = nullptr) {
  std::vector<Emitted> lines;
  Generator generator(options);
  while (auto line = generator.next_line()) {
    lines.push_back({std::string(line->text), line->kind, line->emit_ms});
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

// A number with at most two decimals, as money must be.
bool is_cents(const json& value) {
  if (!value.is_number()) return false;
  const double scaled = value.get<double>() * 100.0;
  return std::fabs(scaled - std::round(scaled)) < 1e-6;
}

int64_t cents(const json& value) { return std::llround(value.get<double>() * 100.0); }

bool non_empty_string(const json& obj, const char* key, size_t max_bytes = 1 << 20) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() && !it->get<std::string>().empty() &&
         it->get<std::string>().size() <= max_bytes;
}

bool integer_in(const json& obj, const char* key, int64_t lo, int64_t hi) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() && it->get<int64_t>() >= lo &&
         it->get<int64_t>() <= hi;
}

bool number_at_least_zero(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number() && it->get<double>() >= 0;
}

// The rules of docs/EVENTS.md (unknown extra fields allowed): "" if `line` is a valid event,
// else a short reason. Independent of the project's decoder on purpose.
std::string refusal(const std::string& line) {
  json obj = json::parse(line, nullptr, false);
  if (obj.is_discarded()) return "not_json";
  if (!obj.is_object()) return "not_object";
  for (const char* key :
       {"event_id", "event_type", "timestamp", "restaurant_id", "restaurant_name", "table_id"}) {
    if (!obj.contains(key)) return "missing_field";
    if (!obj[key].is_string()) return "wrong_type";
  }
  if (!is_uuid(obj["event_id"].get<std::string>())) return "invalid_event_id";
  if (!parse_rfc3339_ms(obj["timestamp"].get<std::string>())) return "invalid_timestamp";
  if (!non_empty_string(obj, "restaurant_id", 64) ||
      !non_empty_string(obj, "restaurant_name", 200) || !non_empty_string(obj, "table_id")) {
    return "out_of_range";
  }
  const std::string type = obj["event_type"].get<std::string>();
  auto needs = [&](std::initializer_list<const char*> keys) -> std::string {
    for (const char* key : keys) {
      if (!obj.contains(key)) return "missing_field";
    }
    return "";
  };
  if (type == "table_seated") {
    if (auto why = needs({"party_size", "server_id"}); !why.empty()) return why;
    if (!integer_in(obj, "party_size", 1, 100) || !non_empty_string(obj, "server_id")) {
      return "out_of_range";
    }
  } else if (type == "order_placed") {
    if (auto why = needs({"order_id", "items", "subtotal"}); !why.empty()) return why;
    if (!non_empty_string(obj, "order_id")) return "out_of_range";
    if (!obj["items"].is_array()) return "wrong_type";
    if (obj["items"].empty()) return "empty_items";
    if (obj["items"].size() > 200) return "out_of_range";
    for (const auto& item : obj["items"]) {
      if (!item.is_object()) return "wrong_type";
      if (!non_empty_string(item, "item_id") || !non_empty_string(item, "item_name") ||
          !non_empty_string(item, "category") || !integer_in(item, "quantity", 1, 1000) ||
          !number_at_least_zero(item, "unit_price")) {
        return "out_of_range";
      }
    }
    if (!number_at_least_zero(obj, "subtotal")) return "out_of_range";
  } else if (type == "order_completed") {
    if (auto why = needs({"order_id", "kitchen_time_minutes"}); !why.empty()) return why;
    if (!non_empty_string(obj, "order_id") || !number_at_least_zero(obj, "kitchen_time_minutes")) {
      return "out_of_range";
    }
  } else if (type == "payment") {
    if (auto why = needs({"order_id", "subtotal", "tax", "tip", "total_amount", "payment_method"});
        !why.empty()) {
      return why;
    }
    if (!non_empty_string(obj, "order_id")) return "out_of_range";
    for (const char* key : {"subtotal", "tax", "tip", "total_amount"}) {
      if (!number_at_least_zero(obj, key)) return "out_of_range";
    }
    const json& method = obj["payment_method"];
    if (!method.is_string() || (method != "card" && method != "cash" && method != "mobile")) {
      return "out_of_range";
    }
  } else {
    return "unknown_event_type";
  }
  return "";
}

std::set<std::string> keys_of(const json& obj) {
  std::set<std::string> keys;
  for (auto it = obj.begin(); it != obj.end(); ++it) keys.insert(it.key());
  return keys;
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

TEST(GeneratorDeterminism, NoiseOnlyAddsLines) {
  // The distinct valid events do not depend on the noise rates.
  GeneratorOptions clean;
  clean.seed = 3;
  clean.max_events = 5000;
  clean.duplicate_rate = clean.late_rate = clean.malformed_rate = 0;
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
  EXPECT_EQ(seen, std::set<std::string>(expected.begin(), expected.end()));
}

// ---- format ----

TEST(GeneratorFormat, ValidLinesHaveExactlyTheDocumentedFields) {
  const std::map<std::string, std::set<std::string>> kFields = {
      {"table_seated",
       {"event_id", "event_type", "timestamp", "restaurant_id", "restaurant_name", "table_id",
        "party_size", "server_id"}},
      {"order_placed",
       {"event_id", "event_type", "timestamp", "restaurant_id", "restaurant_name", "table_id",
        "order_id", "items", "subtotal"}},
      {"order_completed",
       {"event_id", "event_type", "timestamp", "restaurant_id", "restaurant_name", "table_id",
        "order_id", "kitchen_time_minutes"}},
      {"payment",
       {"event_id", "event_type", "timestamp", "restaurant_id", "restaurant_name", "table_id",
        "order_id", "subtotal", "tax", "tip", "total_amount", "payment_method"}},
  };
  const std::set<std::string> kItemFields = {"item_id", "item_name", "category", "quantity",
                                             "unit_price"};
  const std::set<std::string> kCategories = {"starters", "mains", "desserts", "drinks", "sides"};
  std::map<std::string, int> per_type;
  std::map<std::string, std::pair<std::string, std::string>> items;  // id -> name, category
  std::map<std::string, int64_t> prices;
  int valid = 0;
  for (const auto& line : generate_lines(noisy_options(30000))) {
    if (line.kind == LineKind::kMalformed) continue;
    ++valid;
    ASSERT_EQ(refusal(line.text), "") << line.text;
    const json obj = json::parse(line.text);
    const std::string type = obj["event_type"];
    ++per_type[type];
    ASSERT_TRUE(kFields.count(type)) << line.text;
    ASSERT_EQ(keys_of(obj), kFields.at(type)) << line.text;
    ASSERT_TRUE(matches(obj["event_id"].get<std::string>(), "hhhhhhhh-hhhh-4hhh-Vhhh-hhhhhhhhhhhh"))
        << line.text;
    const std::string ts = obj["timestamp"];
    auto ms = parse_rfc3339_ms(ts);
    ASSERT_TRUE(ms) << line.text;
    ASSERT_EQ(format_iso_ms(*ms), ts) << "not the canonical millisecond UTC form: " << ts;
    ASSERT_TRUE(matches(obj["restaurant_id"].get<std::string>(), "r-DDD")) << line.text;
    if (type == "table_seated") {
      ASSERT_TRUE(integer_in(obj, "party_size", 1, 8)) << line.text;
    } else {
      ASSERT_TRUE(matches(obj["order_id"].get<std::string>(), "o-DDD-DDDDDD")) << line.text;
    }
    if (type == "order_placed") {
      ASSERT_TRUE(is_cents(obj["subtotal"])) << line.text;
      for (const auto& item : obj["items"]) {
        ASSERT_EQ(keys_of(item), kItemFields) << line.text;
        ASSERT_TRUE(kCategories.count(item["category"])) << line.text;
        ASSERT_TRUE(is_cents(item["unit_price"])) << line.text;
        ASSERT_GT(cents(item["unit_price"]), 0) << line.text;
        auto [it, inserted] =
            items.emplace(item["item_id"], std::pair{item["item_name"], item["category"]});
        ASSERT_EQ(it->second, std::make_pair(item["item_name"].get<std::string>(),
                                             item["category"].get<std::string>()));
        auto [price, fresh] = prices.emplace(item["item_id"], cents(item["unit_price"]));
        ASSERT_EQ(price->second, cents(item["unit_price"])) << "one price per item";
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

TEST(GeneratorFormat, MalformedLinesAreRefusedForManyReasons) {
  GeneratorOptions options;
  options.seed = 5;
  options.max_events = 40000;
  options.malformed_rate = 0.05;
  std::map<std::string, int> reasons;
  int malformed = 0;
  for (const auto& line : generate_lines(options)) {
    const std::string why = refusal(line.text);
    if (line.kind == LineKind::kMalformed) {
      ++malformed;
      EXPECT_NE(why, "") << "should be refused: " << line.text;
      ++reasons[why];
    } else {
      EXPECT_EQ(why, "") << line.text;
    }
  }
  EXPECT_GT(malformed, 1500);
  for (const char* reason :
       {"not_json", "not_object", "missing_field", "wrong_type", "invalid_event_id",
        "invalid_timestamp", "unknown_event_type", "out_of_range", "empty_items"}) {
    EXPECT_GT(reasons[reason], 10) << reason;
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
        sum += item["quantity"].get<int64_t>() * cents(item["unit_price"]);
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
  generate::GeneratorStats stats;
  const auto lines = generate_lines(noisy_options(40000), &stats);
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
  EXPECT_EQ(duplicates, stats.duplicates);
  EXPECT_EQ(conflicts, stats.conflicts);
  EXPECT_GT(duplicates, 0);
  EXPECT_GT(conflicts, 0);
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
  auto other = test::run_command(generate_command("--seed 6 --events 3000 2>/dev/null"));
  ASSERT_EQ(first.status, 0);
  EXPECT_EQ(first.out, again.out);
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
