// The real binary against the reference: a seeded stream built to hit the spec's edge cases is
// written as JSON lines (with redeliveries, late lines, malformed lines, a second file with the
// same events), ingested with `tablepulse ingest`, and every metric `tablepulse query` returns
// at chosen instants is compared with metrics_reference.h.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/time.h"
#include "decode/decoder.h"
#include "metrics_reference.h"
#include "test_support.h"

namespace tp::test {
namespace {

constexpr int64_t kMin = kMinuteMs;
constexpr int64_t kSec = 1000;
// 2026-11-24T17:00:00.000Z: the start of the generated stream.
const int64_t kStart = *parse_rfc3339_ms("2026-11-24T17:00:00.000Z");
// Events after kGapFrom are shifted by kGapLength: nothing happens in (kGapFrom, kGapFrom+len].
const int64_t kGapFrom = kStart + 100 * kMin;
constexpr int64_t kGapLength = 25 * kMin;

// ---------------------------------------------------------------------------------------------
// Writing events as the POS would (docs/EVENTS.md).

// The zone every ingest of this file reads zone-less timestamps in (--default-timezone), and
// the wall-clock text a producer in that zone writes without a zone (Python's isoformat()).
constexpr const char* kProducerZone = "Europe/Berlin";
const TimeZone& producer_zone() {
  static const TimeZone zone = TimeZone::load(kProducerZone).value();
  return zone;
}
std::string zoneless_wall_time(int64_t ts_ms) {
  static const absl::TimeZone zone = [] {  // loaded once, not per event
    absl::TimeZone loaded;
    absl::LoadTimeZone(kProducerZone, &loaded);
    return loaded;
  }();
  const absl::Time instant = absl::FromUnixMillis(ts_ms);
  const int64_t wall_ms = absl::ToUnixMillis(absl::FromCivil(absl::ToCivilSecond(instant, zone),
                                                             absl::UTCTimeZone())) +
                          ts_ms % 1000;
  std::string text = format_iso_ms(wall_ms);
  text.pop_back();      // the 'Z'
  return text + "000";  // microseconds, as isoformat() writes them
}

// The instant a wire timestamp names, whatever its form.
int64_t wire_instant(const std::string& text) {
  return producer_zone().resolve(*parse_iso8601(text));
}

// Wire form of an event (the brief's fields); `offset_min` re-expresses the timestamp in
// another zone (same instant); `zoneless` writes it without a zone, in the producer's zone.
nlohmann::ordered_json event_to_wire(const Event& e, int offset_min = 0, bool zoneless = false) {
  nlohmann::ordered_json j;
  j["event_id"] = e.event_id;
  j["event_type"] = std::string(event_type_name(e.type));
  if (zoneless) {
    j["timestamp"] = zoneless_wall_time(e.ts_ms);
  } else if (offset_min == 0) {
    j["timestamp"] = format_iso_ms(e.ts_ms);
  } else {
    std::string local = format_iso_ms(e.ts_ms + offset_min * kMin);
    local.pop_back();  // the 'Z'
    int a = std::abs(offset_min);
    j["timestamp"] =
        fmt::format("{}{}{:02}:{:02}", local, offset_min < 0 ? '-' : '+', a / 60, a % 60);
  }
  j["restaurant_id"] = e.restaurant_id;
  j["restaurant_name"] = e.restaurant_name;
  j["table_id"] = e.table_id;
  auto money = [](int64_t cents) { return static_cast<double>(cents) / 100.0; };
  switch (e.type) {
    case EventType::kTableSeated:
      j["party_size"] = e.party_size;
      j["server_id"] = e.server_id;
      break;
    case EventType::kOrderPlaced: {
      j["server_id"] = e.server_id;
      j["order_id"] = e.order_id;
      auto items = nlohmann::ordered_json::array();
      for (const LineItem& line : e.items) {
        items.push_back({{"item_id", line.item_id},
                         {"item_name", line.item_name},
                         {"category", line.category},
                         {"quantity", line.quantity},
                         {"price", money(line.price_cents)}});
      }
      j["items"] = std::move(items);
      j["subtotal"] = money(e.subtotal_cents);
      break;
    }
    case EventType::kOrderCompleted:
      j["order_id"] = e.order_id;
      j["kitchen_time_minutes"] = *e.kitchen_time_minutes;
      break;
    case EventType::kPayment:
      j["order_id"] = e.order_id;
      j["subtotal"] = money(e.subtotal_cents);
      j["tax"] = money(e.tax_cents);
      j["tip"] = money(e.tip_cents);
      j["total_amount"] = money(e.total_cents);
      j["payment_method"] = e.payment_method;
      break;
  }
  return j;
}

// Counters the ingest summary must report for a file (or a run); the data-quality counters
// (std::nullopt: not checked) follow the spec's data-quality definitions.
struct ExpectedIngest {
  uint64_t lines = 0, inserted = 0, duplicates = 0, rejected = 0, blank = 0;
  std::optional<uint64_t> conflicting, late, subtotal_mismatch, total_mismatch, naive;
};

// ---------------------------------------------------------------------------------------------
// The seeded scenario.

// A random stream of a few restaurants over ~3.5 hours, plus the lines of two files.
class Scenario {
 public:
  explicit Scenario(uint64_t seed) : rng_(seed) {
    simulate();
    inject_edge_cases();
    std::sort(events_.begin(), events_.end(), [](const Event& a, const Event& b) {
      return a.ts_ms != b.ts_ms ? a.ts_ms < b.ts_ms : a.event_id < b.event_id;
    });
    write_file_a();
    write_file_b();
  }

  const std::vector<Event>& events() const { return events_; }
  const std::vector<std::string>& file_a() const { return file_a_; }
  const std::vector<std::string>& file_b() const { return file_b_; }
  // Counts of a fresh database ingesting file A.
  const ExpectedIngest& expected_a() const { return expected_a_; }
  // Counts of file B ingested after A (every valid line is a redelivery).
  const ExpectedIngest& expected_b_after_a() const { return expected_b_; }
  int64_t min_ts() const { return events_.front().ts_ms; }
  int64_t max_ts() const { return events_.back().ts_ms; }
  // The instant of the two equal-timestamp events of r-004 with different names.
  int64_t name_tie_ts() const { return name_tie_ts_; }
  // A middle event of a type (for instants exactly on, or a window away from, an event).
  const Event& middle(std::optional<EventType> type) const {
    std::vector<const Event*> of_type;
    for (const Event& e : events_) {
      if (!type || e.type == *type) of_type.push_back(&e);
    }
    return *of_type.at(of_type.size() / 2);
  }

 private:
  // A uniform integer in [lo, hi].
  int64_t uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  // A random version-4 UUID in canonical lower case.
  std::string uuid() {
    uint64_t a = rng_(), b = rng_();
    return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff,
                       a & 0xfff, 0x8000 | ((b >> 48) & 0x3fff), b & 0xffffffffffffULL);
  }

  // Restaurant names change over time (renames), by event time.
  static std::string name_of(const std::string& restaurant, int64_t ts) {
    if (restaurant == "r-001") return "Pulse Downtown";
    if (restaurant == "r-002") return ts < kStart + 70 * kMin ? "Pulse Harbor" : "Pulse Harbour";
    if (restaurant == "r-003") {
      if (ts < kStart + 50 * kMin) return "Pulse Airport";
      return ts < kStart + 130 * kMin ? "Pulse Airport T1" : "Pulse Airport Terminal 1";
    }
    if (restaurant == "r-004") return "Pulse Station";
    return "Pulse Kiosk";
  }

  // A new event with a fresh id (mostly a UUID, sometimes an opaque id as some producers send);
  // the caller fills the type's fields.
  Event& add(EventType type, int64_t ts, const std::string& restaurant, const std::string& table) {
    Event e;
    e.event_id = chance(0.15) ? fmt::format("evt-{:016x}", rng_()) : uuid();
    e.type = type;
    e.ts_ms = ts;
    e.restaurant_id = restaurant;
    e.restaurant_name = name_of(restaurant, ts);
    e.table_id = table;
    events_.push_back(std::move(e));
    return events_.back();
  }

  // Menu lines; a few items change name or category during the stream.
  LineItem menu_line(int64_t ts) {
    static const char* kNames[] = {"Classic Burger", "Veggie Burger",  "Soup of the Day",
                                   "Caesar Salad",   "Fries",          "Onion Rings",
                                   "Fish Tacos",     "Steak Frites",   "Margherita",
                                   "Pepperoni",      "Cola",           "Lemonade",
                                   "Iced Tea",       "Espresso",       "Cheesecake",
                                   "Brownie",        "Lager",          "IPA",
                                   "House Red",      "Sparkling Water"};
    static const char* kCategories[] = {"mains",    "mains",  "starters", "starters", "sides",
                                        "sides",    "mains",  "mains",    "pizza",    "pizza",
                                        "drinks",   "drinks", "drinks",   "drinks",   "desserts",
                                        "desserts", "bar",    "bar",      "bar",      "drinks"};
    int i = static_cast<int>(uniform(0, 19));
    LineItem line;
    line.item_id = fmt::format("m-{:02}", i + 1);
    line.item_name = kNames[i];
    line.category = kCategories[i];
    if (i == 2 && ts >= kStart + 60 * kMin) line.item_name = "Tomato Soup";  // rename
    if (i == 6 && ts >= kStart + 90 * kMin) line.category = "specials";      // recategorise
    line.quantity = static_cast<uint32_t>(chance(0.1) ? uniform(4, 12) : uniform(1, 3));
    line.price_cents = 250 + 25 * (i * 7 % 40);
    return line;
  }

  // An order_placed with 1–max_lines random lines (never the same item twice in one order).
  Event& place(int64_t ts, const std::string& restaurant, const std::string& table,
               const std::string& order, int max_lines) {
    Event& e = add(EventType::kOrderPlaced, ts, restaurant, table);
    e.order_id = order;
    e.server_id = fmt::format("s-{}-{:02}", restaurant.substr(2), uniform(1, 5));
    int n = static_cast<int>(uniform(1, max_lines));
    std::set<std::string> seen;
    for (int k = 0; k < n; ++k) {
      LineItem line = menu_line(ts);
      if (!seen.insert(line.item_id).second) continue;
      e.subtotal_cents += line.quantity * line.price_cents;
      e.items.push_back(std::move(line));
    }
    if (chance(0.03)) e.subtotal_cents += uniform(2, 500);  // subtotal_mismatch: still stored
    return e;
  }

  // Parties at each restaurant: seat → order (→ second round) → complete → pay, with gaps.
  void simulate() {
    const std::vector<std::string> restaurants = {"r-001", "r-002", "r-003", "r-004", "r-005"};
    int order_seq = 0;
    for (const std::string& r : restaurants) {
      bool kiosk = r == "r-005";  // never seats anyone: every order is at the counter
      int64_t end = r == "r-004" ? kStart + 120 * kMin : kStart + 180 * kMin;
      for (int64_t t = kStart + uniform(0, 3 * kMin); t < end;
           t += uniform(kiosk ? 3 * kMin : 40 * kSec, kiosk ? 9 * kMin : 4 * kMin)) {
        std::string table = fmt::format("T{:02}", uniform(1, 10));
        int64_t seat_ts = t;
        bool no_seating = kiosk || chance(0.05);
        if (no_seating) {
          table = fmt::format("B{}", uniform(1, 3));  // bar / counter: never seated
        } else {
          Event& s = add(EventType::kTableSeated, seat_ts, r, table);
          s.party_size = static_cast<uint16_t>(uniform(1, 8));
          s.server_id = fmt::format("s-{}-{:02}", r.substr(2), uniform(1, 5));
        }
        // Orders of this party (order_id -> its events' times), first round then maybe more.
        std::vector<std::string> orders;
        std::map<std::string, int64_t> last_done;
        int64_t t_order = chance(0.04) ? seat_ts : seat_ts + uniform(30 * kSec, 12 * kMin);
        int rounds = chance(0.2) ? 2 : 1;
        std::string order = fmt::format("o-{}-{:06}", r.substr(2), ++order_seq);
        for (int round = 0; round < rounds; ++round) {
          if (round == 1 && chance(0.5))
            order = fmt::format("o-{}-{:06}", r.substr(2), ++order_seq);
          if (std::find(orders.begin(), orders.end(), order) == orders.end())
            orders.push_back(order);
          bool drop_placed = chance(0.05);  // completion/payment without an order_placed
          int64_t placed_ts = t_order;
          if (!drop_placed) place(placed_ts, r, table, order, 4);
          int64_t done_ts = placed_ts + uniform(3 * kMin, 25 * kMin);
          if (chance(0.92)) {  // else: paid without a completion
            Event& c = add(EventType::kOrderCompleted, done_ts, r, table);
            c.order_id = order;
            double reported =
                std::round(((done_ts - placed_ts) / 60000.0 + uniform(-20, 20) / 10.0) * 10.0) /
                10.0;
            c.kitchen_time_minutes = std::max(0.0, reported);
          }
          last_done[order] = std::max(last_done[order], done_ts);
          t_order = done_ts + uniform(2 * kMin, 10 * kMin);  // the second round, if any
        }
        for (const std::string& o : orders) {
          int64_t subtotal = 0;
          for (const Event& e : events_) {
            if (e.type == EventType::kOrderPlaced && e.order_id == o) subtotal += e.subtotal_cents;
          }
          if (subtotal == 0) subtotal = uniform(500, 9000);
          int64_t pay_ts = last_done[o] + uniform(2 * kMin, 30 * kMin);
          int payments = chance(0.1) ? 2 : 1;  // a split bill: one order, two payments
          for (int k = 0; k < payments; ++k) {
            Event& y = add(EventType::kPayment, pay_ts + k * uniform(0, 90 * kSec), r, table);
            y.order_id = o;
            y.subtotal_cents = subtotal / payments;
            y.tax_cents = (y.subtotal_cents * 8 + 50) / 100;
            y.tip_cents = uniform(0, y.subtotal_cents / 5);
            y.total_cents = y.subtotal_cents + y.tax_cents + y.tip_cents;
            if (chance(0.03)) y.total_cents += uniform(2, 300);  // total_mismatch: still stored
            static const char* kMethods[] = {"credit_card", "debit_card", "cash", "mobile_payment",
                                             "gift_card"};
            y.payment_method = kMethods[uniform(0, 4)];
          }
        }
      }
    }
    // The quiet period: shift everything after kGapFrom.
    for (Event& e : events_) {
      if (e.ts_ms > kGapFrom) {
        e.ts_ms += kGapLength;
        e.restaurant_name = name_of(e.restaurant_id, e.ts_ms);
      }
    }
  }

  // Cases the random walk would rarely produce, placed deliberately.
  void inject_edge_cases() {
    // Equal timestamps, different names, ids whose text order is the opposite of ClickHouse's
    // UUID order: the latest name (larger id text) is "Pulse Central Station".
    int64_t last_r004 = 0;
    for (const Event& e : events_) {
      if (e.restaurant_id == "r-004") last_r004 = std::max(last_r004, e.ts_ms);
    }
    name_tie_ts_ = last_r004 + kMin + 123;
    Event& a = add(EventType::kTableSeated, name_tie_ts_, "r-004", "T01");
    a.event_id = "f0000001-0000-4000-8000-000000000001";
    a.restaurant_name = "Pulse Central Station";
    a.party_size = 2;
    a.server_id = "s-004-01";
    Event& b = add(EventType::kTableSeated, name_tie_ts_, "r-004", "T02");
    b.event_id = "00000001-0000-4000-bfff-ffffffffffff";
    b.restaurant_name = "Pulse Station (old)";
    b.party_size = 3;
    b.server_id = "s-004-01";
    // Equal timestamps naming an item two ways (same UUID trap), in two restaurants.
    int64_t item_tie_ts = kStart + 40 * kMin + 7;
    Event& p1 = add(EventType::kOrderPlaced, item_tie_ts, "r-001", "B9");
    p1.event_id = "f0000002-0000-4000-8000-000000000002";
    p1.order_id = "o-tie-1";
    p1.server_id = "s-001-01";
    p1.items.push_back({"m-05", "Fries (large)", "sides", 2, 450});
    p1.subtotal_cents = 900;
    Event& p2 = add(EventType::kOrderPlaced, item_tie_ts, "r-002", "B9");
    p2.event_id = "00000002-0000-4000-bfff-fffffffffffe";
    p2.order_id = "o-tie-2";
    p2.server_id = "s-002-01";
    p2.items.push_back({"m-05", "Chips", "sides", 1, 450});
    p2.subtotal_cents = 450;
  }

  // A line never to be accepted (docs/EVENTS.md rules), of one of several kinds.
  std::string malformed_line() {
    Event e;
    e.event_id = uuid();
    e.type = EventType::kTableSeated;
    e.ts_ms = kStart + uniform(0, 200 * kMin);
    e.restaurant_id = "r-001";
    e.restaurant_name = "Pulse Downtown";
    e.table_id = "T01";
    e.party_size = 2;
    e.server_id = "s-001-01";
    nlohmann::ordered_json seated = event_to_wire(e);
    Event p = e;
    p.type = EventType::kOrderPlaced;
    p.order_id = "o-bad";
    p.items.push_back({"m-01", "Classic Burger", "mains", 1, 1000});
    p.subtotal_cents = 1000;
    nlohmann::ordered_json placed = event_to_wire(p);
    Event y = e;
    y.type = EventType::kPayment;
    y.order_id = "o-bad";
    y.subtotal_cents = 1000;
    y.total_cents = 1000;
    y.payment_method = "card";
    nlohmann::ordered_json payment = event_to_wire(y);
    switch (uniform(0, 13)) {
      case 0:
        return "this is not json";
      case 1:
        return seated.dump().substr(0, 40);  // truncated
      case 2:
        return "[1, 2, 3]";
      case 3:
        seated["event_type"] = "table_cleared";
        return seated.dump();
      case 4:
        seated["event_id"] = "";
        return seated.dump();
      case 5:
        seated["timestamp"] = "2026-11-24T24:00:00.000";  // hour 24
        return seated.dump();
      case 6:
        seated["party_size"] = 0;
        return seated.dump();
      case 7:
        seated["restaurant_id"] = "";
        return seated.dump();
      case 8:
        placed["items"] = nlohmann::ordered_json::array();
        return placed.dump();
      case 9:
        placed["items"][0]["quantity"] = 0;
        return placed.dump();
      case 10:
        placed.erase("order_id");
        return placed.dump();
      case 11:
        payment["payment_method"] = "";
        return payment.dump();
      case 12:
        payment["subtotal"] = -1.0;
        return payment.dump();
      default:
        payment.erase("total_amount");
        return payment.dump();
    }
  }

  // The first delivery of an event: mostly plain, sometimes another zone, no zone at all (read
  // in --default-timezone) or an extra field.
  std::string first_delivery(const Event& e) {
    const bool zoneless = chance(0.2);
    if (zoneless) ++naive_lines_;
    nlohmann::ordered_json j =
        event_to_wire(e, chance(0.1) ? (chance(0.5) ? 120 : -330) : 0, zoneless);
    if (chance(0.05)) j["pos_version"] = "7.1.3";  // unknown fields are ignored
    return j.dump();
  }

  // A redelivery: the same line, or the same event with its id upper-cased (a UUID only: an
  // opaque id in another case is another event) or another zone.
  std::string redelivery(const std::string& line) {
    if (chance(0.8)) return line;
    auto j = nlohmann::ordered_json::parse(line);
    std::string id = j["event_id"];
    if (chance(0.5) && decode::is_uuid(id)) {
      for (char& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      j["event_id"] = id;
    } else {
      int64_t ts = wire_instant(j["timestamp"].get<std::string>());
      std::string local = format_iso_ms(ts + 60 * kMin);
      local.pop_back();
      j["timestamp"] = local + "+01:00";
    }
    return j.dump();
  }

  // File A: roughly time order with late lines, redeliveries, malformed and blank lines.
  void write_file_a() {
    std::vector<size_t> order(events_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (size_t i = 0; i < order.size(); ++i) {  // late arrivals: moved up to 300 lines later
      if (!chance(0.05)) continue;
      size_t to = std::min(order.size() - 1, i + static_cast<size_t>(uniform(1, 300)));
      std::rotate(order.begin() + i, order.begin() + i + 1, order.begin() + to + 1);
    }
    std::vector<std::string> valid_lines;
    std::map<std::string, int64_t> latest_arrived;  // restaurant -> max event time so far
    expected_a_.conflicting = expected_a_.late = 0;
    expected_a_.subtotal_mismatch = expected_a_.total_mismatch = 0;
    for (size_t index : order) {
      const Event& e = events_[index];
      // Late: an event of the same restaurant more than 60 s later arrived before it.
      auto [seen, fresh] = latest_arrived.emplace(e.restaurant_id, e.ts_ms);
      if (!fresh && seen->second - e.ts_ms > kMin) ++*expected_a_.late;
      if (!fresh) seen->second = std::max(seen->second, e.ts_ms);
      int64_t items_cents = 0;
      for (const LineItem& line : e.items) items_cents += line.quantity * line.price_cents;
      if (e.type == EventType::kOrderPlaced && std::llabs(items_cents - e.subtotal_cents) > 1) {
        ++*expected_a_.subtotal_mismatch;
      }
      if (e.type == EventType::kPayment &&
          std::llabs(e.subtotal_cents + e.tax_cents + e.tip_cents - e.total_cents) > 1) {
        ++*expected_a_.total_mismatch;
      }
      valid_lines.push_back(first_delivery(e));
      file_a_.push_back(valid_lines.back());
      ++expected_a_.inserted;
      if (chance(0.08)) {
        file_a_.push_back(redelivery(valid_lines[uniform(0, valid_lines.size() - 1)]));
        ++expected_a_.duplicates;
      }
      if (chance(0.01)) {
        file_a_.push_back(malformed_line());
        ++expected_a_.rejected;
      }
      if (chance(0.003)) {
        file_a_.push_back("");
        ++expected_a_.blank;
      }
    }
    expected_a_.lines = expected_a_.inserted + expected_a_.duplicates + expected_a_.rejected;
    expected_a_.naive = naive_lines_;  // every first delivery of file A is stored
  }

  // File B: the same events shuffled, with its own redeliveries and malformed lines.
  void write_file_b() {
    std::vector<const Event*> shuffled;
    for (const Event& e : events_) shuffled.push_back(&e);
    std::shuffle(shuffled.begin(), shuffled.end(), rng_);
    for (const Event* e : shuffled) {
      file_b_.push_back(first_delivery(*e));
      ++expected_b_.duplicates;
      if (chance(0.03)) {
        file_b_.push_back(redelivery(file_b_.back()));
        ++expected_b_.duplicates;
      }
      if (chance(0.01)) {
        file_b_.push_back(malformed_line());
        ++expected_b_.rejected;
      }
    }
    expected_b_.lines = expected_b_.duplicates + expected_b_.rejected;
    expected_b_.conflicting = 0;  // other zones, upper-case ids, unknown fields: same content
  }

  std::mt19937_64 rng_;
  std::vector<Event> events_;
  std::vector<std::string> file_a_, file_b_;
  uint64_t naive_lines_ = 0;  // first deliveries written without a zone
  ExpectedIngest expected_a_, expected_b_;
  int64_t name_tie_ts_ = 0;
};

// The one scenario of this process (deterministic: same seed, same stream).
const Scenario& scenario() {
  static const Scenario s(20261124);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Running the binary.

// Writes lines to a file, one per line.
std::string write_lines(const TempDir& dir, const std::string& name,
                        const std::vector<std::string>& lines) {
  std::string path = (dir.path() / name).string();
  std::ofstream out(path);
  for (const std::string& line : lines) out << line << '\n';
  return path;
}

// Runs `tablepulse ingest` and returns its summary (the last stdout line), or fails the test.
nlohmann::json ingest(const std::string& db, const std::vector<std::string>& files,
                      const std::string& options = "") {
  std::string command = tablepulse_binary() + " ingest --db " + db +
                        " --default-timezone " + kProducerZone + options;
  for (const std::string& f : files) command += " " + f;
  CommandResult result = run_command(command);
  EXPECT_EQ(result.status, 0) << command << "\n" << result.out;
  std::string last;  // the last non-empty stdout line
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) last = line;
  }
  auto summary = nlohmann::json::parse(last, nullptr, false);
  EXPECT_TRUE(summary.is_object()) << command << ": last stdout line is not a JSON object:\n"
                                   << result.out;
  return summary.is_object() ? summary : nlohmann::json::object();
}

// Checks an ingest summary against the expected counts.
void expect_summary(const nlohmann::json& summary, const ExpectedIngest& want,
                    const std::string& what) {
  SCOPED_TRACE(what + ": " + summary.dump());
  auto field = [&](const char* name) -> int64_t {
    if (!summary.contains(name) || !summary[name].is_number_integer()) {
      ADD_FAILURE() << "summary has no integer '" << name << "'";
      return -1;
    }
    return summary[name].get<int64_t>();
  };
  EXPECT_EQ(field("lines"), static_cast<int64_t>(want.lines));
  EXPECT_EQ(field("inserted"), static_cast<int64_t>(want.inserted));
  EXPECT_EQ(field("duplicates"), static_cast<int64_t>(want.duplicates));
  EXPECT_EQ(field("rejected"), static_cast<int64_t>(want.rejected));
  EXPECT_EQ(field("blank"), static_cast<int64_t>(want.blank));
  int64_t by_reason = 0;
  if (summary.contains("rejected_by_reason") && summary["rejected_by_reason"].is_object()) {
    for (const auto& [code, n] : summary["rejected_by_reason"].items()) by_reason += n.get<int64_t>();
  }
  EXPECT_EQ(by_reason, static_cast<int64_t>(want.rejected)) << "reasons must add up to rejected";
  // An optional counter, checked when expected.
  auto check = [&](const char* name, const std::optional<uint64_t>& expected) {
    if (expected) {
      EXPECT_EQ(field(name), static_cast<int64_t>(*expected)) << name;
    }
  };
  check("conflicting_duplicates", want.conflicting);
  check("late_events", want.late);
  check("subtotal_mismatch", want.subtotal_mismatch);
  check("total_mismatch", want.total_mismatch);
  check("naive_timestamps", want.naive);
}

// A window given on the command line, with its length computed here (not by the engine).
struct Window {
  std::string text;
  int64_t ms;
};

// Runs the metric through the binary and the reference, and records any difference.
class Comparer {
 public:
  Comparer(std::string db, const std::vector<Event>& events)
      : db_(std::move(db)), events_(events) {}

  // Compares one question; returns the engine's answer (null if it failed).
  RefJson check(std::string_view metric, const std::string& label, int64_t as_of,
                std::optional<Window> window = std::nullopt,
                std::optional<int> limit = std::nullopt) {
    std::string command = fmt::format("{} query {} --db {} --as-of {} --format json",
                                      tablepulse_binary(), metric, db_, format_iso_ms(as_of));
    if (window) command += " --window " + window->text;
    if (limit) command += fmt::format(" --limit {}", *limit);
    std::string title = fmt::format("{} @ {} [{}]{}{}", metric, format_iso_ms(as_of), label,
                                    window ? " window " + window->text : "",
                                    limit ? fmt::format(" limit {}", *limit) : "");
    RefJson want = reference_metric(
        metric, events_, as_of, window ? std::optional<int64_t>(window->ms) : std::nullopt, limit);
    CommandResult result = run_command(command);
    RefJson got = RefJson::parse(result.out, nullptr, false);
    std::vector<std::string> diffs;
    if (result.status != 0 || got.is_discarded()) {
      diffs.push_back(fmt::format("query failed (status {}): {}\n  output: {}", result.status,
                                  command, result.out.substr(0, 500)));
      got = nullptr;
    } else {
      diffs = diff_rows(got, want);
    }
    ++checked_;
    if (diffs.empty()) {
      ++agreed_;
    } else {
      disagreements_.push_back(title);
      std::string report = title + ": " + std::to_string(diffs.size()) + " difference(s)\n";
      for (size_t i = 0; i < diffs.size() && i < 25; ++i) report += "  " + diffs[i] + "\n";
      report +=
          "  engine:    " + (got.is_null() ? std::string("-") : got.dump()).substr(0, 3000) + "\n";
      report += "  reference: " + want.dump().substr(0, 3000) + "\n";
      ADD_FAILURE() << report;
    }
    return got;
  }

  // A line per disagreeing question, for the end of the test log.
  std::string summary() const {
    std::string out = fmt::format("{} of {} questions agree with the reference", agreed_, checked_);
    for (const std::string& d : disagreements_) out += "\n  DIFFERS: " + d;
    return out;
  }

 private:
  // The row's key for messages (restaurant_id or item_id).
  static std::string row_key(const RefJson& row) {
    for (const char* key : {"restaurant_id", "item_id"}) {
      if (row.is_object() && row.contains(key) && row[key].is_string()) return row[key];
    }
    return "?";
  }

  // Money fields: compared exactly in cents.
  static bool is_money(const std::string& field) {
    return field == "revenue" || field == "net_sales" || field == "tax" || field == "tips";
  }

  // Differences between the engine's rows and the reference's, one readable line each
  // (public: also used to compare two engine answers).
 public:
  static std::vector<std::string> diff_rows(const RefJson& got, const RefJson& want) {
    std::vector<std::string> diffs;
    if (!got.is_array()) return {"engine answer is not a JSON array: " + got.dump().substr(0, 300)};
    if (got.size() != want.size()) {
      std::string g, w;
      for (const auto& row : got) g += row_key(row) + " ";
      for (const auto& row : want) w += row_key(row) + " ";
      diffs.push_back(fmt::format("{} rows from the engine [{}], {} in the reference [{}]",
                                  got.size(), g, want.size(), w));
    }
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
      const RefJson& g = got[i];
      const RefJson& w = want[i];
      std::string where = fmt::format("row {} [{}]", i, row_key(w));
      if (!g.is_object()) {
        diffs.push_back(where + ": engine row is not an object");
        continue;
      }
      if (i == 0) {  // field names and order, once per answer
        std::vector<std::string> gk, wk;
        for (const auto& [k, v] : g.items()) gk.push_back(k);
        for (const auto& [k, v] : w.items()) wk.push_back(k);
        if (gk != wk) {
          diffs.push_back(fmt::format("fields differ: engine [{}], spec [{}]", fmt::join(gk, ","),
                                      fmt::join(wk, ",")));
        }
      }
      for (const auto& [field, wv] : w.items()) {
        if (!g.contains(field)) {
          if (i != 0) diffs.push_back(where + ": missing " + field);
          continue;
        }
        const RefJson& gv = g[field];
        std::string bad =
            fmt::format("{} {}: engine {} / reference {}", where, field, gv.dump(), wv.dump());
        if (wv.is_string()) {
          if (gv != wv) diffs.push_back(bad);
        } else if (is_money(field)) {
          if (!gv.is_number()) {
            diffs.push_back(bad + " (money must be a JSON number)");
            continue;
          }
          double cents = gv.get<double>() * 100.0;
          int64_t want_cents = std::llround(wv.get<double>() * 100.0);
          if (std::fabs(cents - std::round(cents)) > 1e-6 || std::llround(cents) != want_cents) {
            diffs.push_back(bad);
          }
        } else if (wv.is_number_integer()) {
          if (!gv.is_number_integer() || gv.get<int64_t>() != wv.get<int64_t>()) {
            diffs.push_back(bad + (gv.is_number_integer() ? "" : " (integer expected)"));
          }
        } else if (wv.is_null()) {
          if (!gv.is_null()) diffs.push_back(bad);
        } else {  // a double
          if (!gv.is_number()) {
            diffs.push_back(bad);
            continue;
          }
          double a = gv.get<double>(), b = wv.get<double>();
          if (std::fabs(a - b) > 1e-6 * std::max(1.0, std::fabs(b))) diffs.push_back(bad);
        }
      }
    }
    return diffs;
  }

 private:
  std::string db_;
  const std::vector<Event>& events_;
  int checked_ = 0, agreed_ = 0;
  std::vector<std::string> disagreements_;
};

// A database with file A of the scenario ingested (fresh per test: tests run in parallel).
class EngineMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_.str() + "/db";
    file_a_ = write_lines(dir_, "pos-a.jsonl", scenario().file_a());
    summary_a_ = ingest(db_, {file_a_});
  }

  TempDir dir_;
  std::string db_, file_a_;
  nlohmann::json summary_a_;
};

// The instants every metric is asked at with its default window.
std::vector<std::pair<std::string, int64_t>> default_instants(std::string_view metric) {
  const Scenario& s = scenario();
  int64_t w = reference_default_window_ms(metric);
  std::optional<EventType> type;
  if (metric == "revenue") type = EventType::kPayment;
  if (metric == "top-items") type = EventType::kOrderPlaced;
  if (metric == "turnover") type = EventType::kTableSeated;
  if (metric == "wait-times") type = EventType::kOrderCompleted;
  return {
      {"before all data", s.min_ts() - 1},
      {"on the first event", s.min_ts()},
      {"inside", kStart + 47 * kMin + 13 * kSec + 457},
      {"on a payment", s.middle(EventType::kPayment).ts_ms},
      {"window start on an event", s.middle(type).ts_ms + w},
      {"window start 1 ms before an event", s.middle(type).ts_ms + w - 1},
      {"in the quiet period", kGapFrom + kGapLength - 3 * kMin},
      {"on the name tie", s.name_tie_ts()},
      {"just after all data", s.max_ts() + 1},
  };
}

TEST_F(EngineMetricsTest, IngestSummaryCountsEveryLine) {
  const Scenario& s = scenario();
  ASSERT_GT(s.events().size(), 1000u);
  expect_summary(summary_a_, s.expected_a(), "file A into a fresh database");
  // The same events from another file, in another order: nothing new.
  std::string file_b = write_lines(dir_, "pos-b.jsonl", s.file_b());
  expect_summary(ingest(db_, {file_b}), s.expected_b_after_a(), "file B after file A");
  // Both files in one run on a fresh database.
  TempDir other;
  ExpectedIngest both = s.expected_a();
  both.conflicting = 0;
  both.lines += s.expected_b_after_a().lines;
  both.duplicates += s.expected_b_after_a().duplicates;
  both.rejected += s.expected_b_after_a().rejected;
  expect_summary(ingest(other.str() + "/db", {file_a_, file_b}), both, "files A and B in one run");
}

TEST_F(EngineMetricsTest, DataQualityTotalsMatchTheLines) {
  const Scenario& s = scenario();
  std::string file_b = write_lines(dir_, "pos-b.jsonl", s.file_b());
  ingest(db_, {file_b});
  CommandResult result = run_command(
      fmt::format("{} query data-quality --db {} --format json", tablepulse_binary(), db_));
  ASSERT_EQ(result.status, 0) << result.out;
  auto dq = nlohmann::json::parse(result.out, nullptr, false);
  if (dq.is_array() && dq.size() == 1) dq = dq[0];
  ASSERT_TRUE(dq.is_object()) << result.out;
  SCOPED_TRACE(dq.dump());
  // An integer field, or -1 when absent or not an integer.
  auto integer = [](const nlohmann::json& obj, const char* name) -> int64_t {
    return obj.contains(name) && obj[name].is_number_integer() ? obj[name].get<int64_t>() : -1;
  };
  EXPECT_EQ(integer(dq, "events"), static_cast<int64_t>(s.events().size()));
  EXPECT_GT(*s.expected_a().naive, 100u);  // the stream exercises zone-less timestamps
  EXPECT_EQ(integer(dq, "naive_timestamps"), static_cast<int64_t>(*s.expected_a().naive));
  EXPECT_EQ(integer(dq, "duplicates"),
            static_cast<int64_t>(s.expected_a().duplicates + s.expected_b_after_a().duplicates));
  int64_t rejected =
      static_cast<int64_t>(s.expected_a().rejected + s.expected_b_after_a().rejected);
  if (dq.contains("rejected") && dq["rejected"].is_object()) {  // a {total, by reason} form
    EXPECT_EQ(integer(dq["rejected"], "total"), rejected);
  } else {
    EXPECT_EQ(integer(dq, "rejected"), rejected);
  }
}

TEST_F(EngineMetricsTest, DefaultWindowsAtEdgeInstants) {
  Comparer compare(db_, scenario().events());
  for (auto metric : kReferenceMetrics) {
    for (const auto& [label, as_of] : default_instants(metric)) compare.check(metric, label, as_of);
  }
  std::cout << compare.summary() << std::endl;
}

TEST_F(EngineMetricsTest, CustomWindowsAndLimits) {
  const Scenario& s = scenario();
  Comparer compare(db_, s.events());
  const std::vector<Window> windows = {{"90s", 90 * kSec}, {"1h30m", 90 * kMin}};
  const Window six_hours{"6h", 360 * kMin};
  const int64_t inside = kStart + 83 * kMin + 2 * kSec + 71;
  const int64_t after = s.max_ts() + 5 * kMin;
  for (auto metric : kReferenceMetrics) {
    for (const Window& w : windows) compare.check(metric, "inside", inside, w);
    // A window longer than all the data, from after its end.
    compare.check(metric, "after all data", after, six_hours);
    // Window start exactly on an event, with a non-default window.
    compare.check(metric, "window start on an event", s.middle(std::nullopt).ts_ms + 15 * kMin,
                  Window{"15m", 15 * kMin});
    // A 10-minute window wholly inside the quiet period: no rows anywhere.
    compare.check(metric, "quiet window", kGapFrom + kGapLength - kMin, Window{"10m", 10 * kMin});
  }
  compare.check("top-items", "inside", inside, std::nullopt, 1);
  compare.check("top-items", "inside", inside, std::nullopt, 3);
  compare.check("top-items", "after all data", after, six_hours, 40);
  std::cout << compare.summary() << std::endl;
}

TEST_F(EngineMetricsTest, SameEventsFromAnotherFileChangeNothing) {
  const Scenario& s = scenario();
  Comparer compare(db_, s.events());
  const std::vector<std::pair<std::string, int64_t>> instants = {
      {"on a payment", s.middle(EventType::kPayment).ts_ms},
      {"after all data", s.max_ts() + 90 * kSec},
  };
  std::map<std::string, RefJson> before;
  for (auto metric : kReferenceMetrics) {
    for (const auto& [label, as_of] : instants) {
      before[std::string(metric) + label] = compare.check(metric, label, as_of);
    }
  }
  std::string file_b = write_lines(dir_, "pos-b.jsonl", s.file_b());
  ingest(db_, {file_b});
  // And file A again under another name (a rotated log): still nothing new.
  std::string file_a2 = write_lines(dir_, "pos-a-copy.jsonl", s.file_a());
  EXPECT_EQ(ingest(db_, {file_a2}).value("inserted", -1), 0);
  for (auto metric : kReferenceMetrics) {
    for (const auto& [label, as_of] : instants) {
      RefJson after = compare.check(metric, label + " after re-ingest", as_of);
      auto changed = Comparer::diff_rows(after, before[std::string(metric) + label]);
      EXPECT_TRUE(changed.empty())
          << metric << " @ " << label << " changed after ingesting the same events again:\n  "
          << fmt::format("{}", fmt::join(changed, "\n  "));
    }
  }
  std::cout << compare.summary() << std::endl;
}

// The matches wait-times and turnover read are kept as data by the consumer, batch by batch.
// File A backwards in batches of 40 makes every kind of late match happen across batches, each
// batch a narrow range of event time: a seating after its placements, a placement after its
// completion and payment, a completion after its payment. The answers must not change.
TEST(EngineMetricsArrival, EventsArrivingBackwardsInSmallBatchesGiveTheSameAnswers) {
  const Scenario& s = scenario();
  TempDir dir;
  const std::string db = dir.str() + "/db";
  std::vector<std::string> backwards(s.file_a().rbegin(), s.file_a().rend());
  auto summary = ingest(db, {write_lines(dir, "backwards.jsonl", backwards)}, " --batch-rows 40");
  EXPECT_GT(summary.value("batches", 0), 20);
  Comparer compare(db, s.events());
  for (auto metric : {"wait-times", "turnover"}) {
    for (const auto& [label, as_of] : default_instants(metric)) compare.check(metric, label, as_of);
    compare.check(metric, "after all data, 6h", s.max_ts() + 5 * kMin, Window{"6h", 360 * kMin});
  }
  std::cout << compare.summary() << std::endl;
}

// Events inserted without the consumer (here: its matches deleted) get them from `rematch`.
TEST(EngineMetricsArrival, RematchRebuildsTheMatchesFromStoredEvents) {
  const Scenario& s = scenario();
  TempDir dir;
  const std::string db = dir.str() + "/db";
  ingest(db, {write_lines(dir, "pos-a.jsonl", s.file_a())});
  CommandResult wiped = run_command(
      fmt::format("{} sql --db {} 'TRUNCATE TABLE event_matches' "
                  "'INSERT INTO event_matches (event_type, ts, event_id, restaurant_id, table_id, "
                  "kitchen_time_minutes) SELECT event_type, ts, event_id, restaurant_id, table_id, "
                  "kitchen_time_minutes FROM events'",
                  tablepulse_binary(), db));
  ASSERT_EQ(wiped.status, 0) << wiped.out;
  const int64_t on_payment = s.middle(EventType::kPayment).ts_ms;
  CommandResult before =
      run_command(fmt::format("{} query wait-times --db {} --as-of {} --format json",
                              tablepulse_binary(), db, format_iso_ms(on_payment)));
  ASSERT_EQ(before.status, 0) << before.out;
  RefJson without = RefJson::parse(before.out, nullptr, false);
  CommandResult rematched =
      run_command(fmt::format("{} rematch --db {} --chunk-events 500", tablepulse_binary(), db));
  ASSERT_EQ(rematched.status, 0) << rematched.out;
  EXPECT_NE(rematched.out.find(fmt::format("rebuilt the matches of {} events", s.events().size())),
            std::string::npos)
      << rematched.out;
  Comparer compare(db, s.events());
  RefJson with = compare.check("wait-times", "on a payment", on_payment);
  EXPECT_FALSE(Comparer::diff_rows(without, with).empty())
      << "the wiped matches gave the same answer: this test would not notice a broken rematch";
  for (auto metric : {"wait-times", "turnover"}) {
    for (const auto& [label, as_of] : default_instants(metric)) compare.check(metric, label, as_of);
  }
  std::cout << compare.summary() << std::endl;
}

// Builds small hand-made streams: sequential ids, type fields filled with fixed values.
class HandStream {
 public:
  // Adds an event; returns it for adjustments (valid until the next add).
  Event& add(EventType type, int64_t ts, const std::string& r, const std::string& name,
             const std::string& table, const std::string& order = "") {
    Event e;
    ++seq_;
    e.event_id = fmt::format("{:08x}-0000-4000-8000-{:012x}", seq_, seq_);
    e.type = type;
    e.ts_ms = ts;
    e.restaurant_id = r;
    e.restaurant_name = name;
    e.table_id = table;
    e.order_id = order;
    if (type == EventType::kTableSeated || type == EventType::kOrderPlaced) e.server_id = "s1";
    if (type == EventType::kTableSeated) e.party_size = 2;
    if (type == EventType::kOrderPlaced) items(e, {{"i-1", "One", "c1", 1, 100}});
    if (type == EventType::kOrderCompleted) e.kitchen_time_minutes = 12.5;
    if (type == EventType::kPayment) {
      e.subtotal_cents = 1010;
      e.tax_cents = 81;
      e.tip_cents = 199;
      e.total_cents = 1290;
      e.payment_method = "cash";
    }
    events_.push_back(std::move(e));
    return events_.back();
  }
  // Replaces an order_placed's lines (and its subtotal).
  static void items(Event& e, std::vector<LineItem> lines) {
    e.items = std::move(lines);
    e.subtotal_cents = 0;
    for (const auto& l : e.items) e.subtotal_cents += l.quantity * l.price_cents;
  }
  const std::vector<Event>& events() const { return events_; }
  // The events as JSON lines, newest first (every line arrives out of event-time order).
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (auto it = events_.rbegin(); it != events_.rend(); ++it)
      out.push_back(event_to_wire(*it).dump());
    return out;
  }

 private:
  std::vector<Event> events_;
  int seq_ = 0;
};

// A small hand-built stream aimed at single rules (names, ties, matches outside the window,
// matches by order_id alone, placements after the completion or after as_of).
TEST(EngineMetricsHandBuilt, EdgeCasesMatchTheReference) {
  const int64_t t0 = *parse_rfc3339_ms("2026-11-24T12:00:00.000Z");
  using T = EventType;
  HandStream h;
  // r-a: seated 3 h before, a second round of o1 (same order_id), renamed later.
  h.add(T::kTableSeated, t0, "r-a", "Alpha", "T1");
  HandStream::items(h.add(T::kOrderPlaced, t0 + 20 * kMin, "r-a", "Alpha", "T1", "o1"),
                    {{"i-1", "One", "c1", 2, 100}, {"i-2", "Two", "c1", 2, 100}});
  h.add(T::kOrderCompleted, t0 + 150 * kMin, "r-a", "Alpha", "T1", "o1");
  HandStream::items(h.add(T::kOrderPlaced, t0 + 170 * kMin, "r-a", "Alpha", "T1", "o1"),
                    {{"i-3", "Three", "c2", 2, 100}, {"i-1", "One", "c1", 1, 100}});
  h.add(T::kPayment, t0 + 175 * kMin, "r-a", "Alpha", "T1", "o1");
  h.add(T::kTableSeated, t0 + 176 * kMin, "r-a", "Alpha Renamed", "T2");
  HandStream::items(h.add(T::kOrderPlaced, t0 + 178 * kMin, "r-a", "Alpha Renamed", "T9", "o2"),
                    {{"i-2", "Two", "c1", 1, 100}, {"i-4", "Four", "c2", 1, 100}});
  h.add(T::kPayment, t0 + 180 * kMin, "r-a", "Alpha Renamed", "T9", "o2");
  h.add(T::kTableSeated, t0 + 181 * kMin, "r-a", "Alpha Future", "T3");
  // o-n: completed before it was placed (negative kitchen time once the placement is known).
  h.add(T::kOrderCompleted, t0 + 172 * kMin, "r-a", "Alpha", "T2", "o-n");
  h.add(T::kOrderPlaced, t0 + 179 * kMin, "r-a", "Alpha Renamed", "T2", "o-n");
  // o-m: paid at 177, placed at 179.5 (after a 178 as_of): table time only from 179.5 on.
  h.add(T::kPayment, t0 + 177 * kMin, "r-a", "Alpha Renamed", "T2", "o-m");
  h.add(T::kOrderPlaced, t0 + 179 * kMin + 30 * kSec, "r-a", "Alpha Renamed", "T2", "o-m");
  // r-b: completions and a payment only; equal timestamps whose id text order is the
  // opposite of ClickHouse's UUID order (the text-larger one is the latest: "Beta Later").
  h.add(T::kOrderCompleted, t0 + 170 * kMin, "r-b", "Beta", "T1", "o9");
  h.add(T::kPayment, t0 + 179 * kMin, "r-b", "Beta", "T1", "o9");
  h.add(T::kOrderCompleted, t0 + 179 * kMin, "r-b", "Beta Later", "T1", "o8").event_id =
      "fff00000-0000-4000-8000-000000000000";
  h.add(T::kOrderCompleted, t0 + 179 * kMin, "r-b", "Beta Earlier", "T1", "o7").event_id =
      "00000000-0000-4000-bfff-ffffffffffff";
  // r-c: its only event in the window is a completion without any order_placed: a wait-times
  // row with only avg_reported_kitchen_min.
  h.add(T::kOrderCompleted, t0 + 172 * kMin, "r-c", "Gamma", "T1", "o-c").kitchen_time_minutes =
      7.25;
  // Order "1001" exists at r-d and r-e: matched by order_id alone (the spec's "same order_id").
  h.add(T::kTableSeated, t0 + 155 * kMin, "r-d", "Delta", "T1");
  HandStream::items(h.add(T::kOrderPlaced, t0 + 160 * kMin, "r-d", "Delta", "T1", "1001"),
                    {{"i-9", "Nine", "c9", 1, 900}});
  HandStream::items(h.add(T::kOrderPlaced, t0 + 171 * kMin, "r-e", "Epsilon", "T5", "1001"),
                    {{"i-9", "Nine", "c9", 2, 900}});
  h.add(T::kOrderCompleted, t0 + 174 * kMin, "r-e", "Epsilon", "T5", "1001");
  h.add(T::kPayment, t0 + 176 * kMin, "r-d", "Delta", "T1", "1001");

  TempDir dir;
  std::string file = write_lines(dir, "hand.jsonl", h.lines());
  std::string db = dir.str() + "/db";
  ExpectedIngest want;
  want.lines = want.inserted = h.events().size();
  want.conflicting = 0;
  expect_summary(ingest(db, {file}), want, "hand-built stream");
  Comparer compare(db, h.events());
  for (auto metric : kReferenceMetrics) {
    // 180: the 181 seating's "Alpha Future" must not name r-a; 240: 60 min windows start on
    // the 180 payment.
    for (int64_t as_of : {t0 + 175 * kMin, t0 + 178 * kMin, t0 + 180 * kMin, t0 + 240 * kMin}) {
      compare.check(metric, "hand-built", as_of);
    }
  }
  std::cout << compare.summary() << std::endl;
}

// Two deliveries of one event_id with different contents are one event; docs/DESIGN.md says
// the first delivery is kept, so the reference sees only the first versions.
TEST(EngineMetricsConflicts, FirstDeliveryWinsAcrossRunsAndWithinARun) {
  const int64_t t0 = *parse_rfc3339_ms("2026-11-24T12:00:00.000Z");
  using T = EventType;
  HandStream first;
  first.add(T::kTableSeated, t0, "r-a", "Alpha", "T1");
  first.add(T::kOrderPlaced, t0 + 5 * kMin, "r-a", "Alpha", "T1", "o1");
  first.add(T::kOrderCompleted, t0 + 20 * kMin, "r-a", "Alpha", "T1", "o1");
  first.add(T::kPayment, t0 + 40 * kMin, "r-a", "Alpha", "T1", "o1");
  first.add(T::kTableSeated, t0 + 10 * kMin, "r-b", "Beta", "T1");
  first.add(T::kPayment, t0 + 41 * kMin, "r-b", "Beta", "T1", "o2");
  // Conflicting copies: other times (within minutes), names, money, tables, items, even type.
  std::vector<Event> conflicts = first.events();
  conflicts[0].ts_ms += 3 * kMin;
  conflicts[0].table_id = "T7";
  HandStream::items(conflicts[1], {{"i-x", "Other", "cx", 5, 1234}});
  conflicts[1].ts_ms -= 2 * kMin;
  conflicts[2].kitchen_time_minutes = 99.0;
  conflicts[2].restaurant_name = "Alpha Conflict";
  conflicts[3].total_cents += 500;
  conflicts[3].ts_ms += 1;
  conflicts[4].type = T::kOrderCompleted;  // same id, another type
  conflicts[4].order_id = "o-x";
  conflicts[4].kitchen_time_minutes = 1.0;
  conflicts[5].restaurant_name = "Beta Conflict";
  conflicts[5].ts_ms += 30 * kSec;
  std::vector<std::string> conflict_lines;
  for (const Event& e : conflicts) conflict_lines.push_back(event_to_wire(e).dump());
  // Upper-case id: still the same event.
  auto upper = nlohmann::ordered_json::parse(conflict_lines[5]);
  std::string id = upper["event_id"];
  for (char& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  upper["event_id"] = id;
  upper["tip"] = 0.5;
  conflict_lines.push_back(upper.dump());

  TempDir dir;
  std::string db = dir.str() + "/db";
  ExpectedIngest want_first;
  want_first.lines = want_first.inserted = first.events().size();
  want_first.conflicting = 0;
  expect_summary(ingest(db, {write_lines(dir, "first.jsonl", first.lines())}), want_first,
                 "first deliveries");
  ExpectedIngest want_conflicts;
  want_conflicts.lines = want_conflicts.duplicates = conflict_lines.size();
  want_conflicts.conflicting = conflict_lines.size();
  expect_summary(ingest(db, {write_lines(dir, "conflicts.jsonl", conflict_lines)}), want_conflicts,
                 "conflicting redeliveries in a later run");
  // Within one run: a new event, then a conflicting copy of it later in the same file.
  HandStream more;
  more.add(T::kPayment, t0 + 42 * kMin, "r-a", "Alpha", "T1", "o3").event_id =
      "abcdef00-0000-4000-8000-000000000042";
  Event changed = more.events()[0];
  changed.total_cents = 1;
  changed.ts_ms -= kMin;
  std::vector<std::string> same_run = {event_to_wire(more.events()[0]).dump(),
                                       event_to_wire(changed).dump()};
  ExpectedIngest want_same_run;
  want_same_run.lines = 2;
  want_same_run.inserted = want_same_run.duplicates = 1;
  want_same_run.conflicting = 1;
  expect_summary(ingest(db, {write_lines(dir, "same-run.jsonl", same_run)}), want_same_run,
                 "a conflict within one run");

  std::vector<Event> kept = first.events();
  kept.push_back(more.events()[0]);
  Comparer compare(db, kept);
  for (auto metric : kReferenceMetrics) {
    for (int64_t as_of : {t0 + 40 * kMin, t0 + 45 * kMin}) {
      compare.check(metric, "after conflicts", as_of);
    }
  }
  std::cout << compare.summary() << std::endl;
}

}  // namespace
}  // namespace tp::test
