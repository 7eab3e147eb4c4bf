// Hand-computed cases that pin the reference metrics (metrics_reference.h) to the spec: window
// boundaries, names, matches outside the window, ties, null ratios, empty inputs.
#include "metrics_reference.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/time.h"

namespace tp::test {
namespace {

// 2026-11-24T18:00:00.000Z: the start of every hand-built stream.
const int64_t kT0 = *parse_rfc3339_ms("2026-11-24T18:00:00.000Z");
constexpr int64_t kMin = kMinuteMs;
constexpr int64_t kSec = 1000;

// Builds events tersely; ids are sequential UUIDs unless given.
class Stream {
 public:
  // A table_seated event.
  Stream& seated(int64_t ts, const std::string& rest, const std::string& name,
                 const std::string& table) {
    Event& e = add(EventType::kTableSeated, ts, rest, name);
    e.table_id = table;
    e.party_size = 2;
    e.server_id = "s-1";
    return *this;
  }
  // An order_placed event with (item_id, quantity) lines named "<item> v1" in category "c".
  Stream& placed(int64_t ts, const std::string& rest, const std::string& name,
                 const std::string& table, const std::string& order,
                 std::vector<std::pair<std::string, uint32_t>> lines = {{"i-x", 1}}) {
    Event& e = add(EventType::kOrderPlaced, ts, rest, name);
    e.table_id = table;
    e.order_id = order;
    for (auto& [item, quantity] : lines) {
      e.items.push_back({item, item + " v1", "c", quantity, 500});
      e.subtotal_cents += 500 * quantity;
    }
    return *this;
  }
  // An order_completed event.
  Stream& completed(int64_t ts, const std::string& rest, const std::string& name,
                    const std::string& table, const std::string& order,
                    std::optional<double> kitchen = 10.0) {
    Event& e = add(EventType::kOrderCompleted, ts, rest, name);
    e.table_id = table;
    e.order_id = order;
    e.kitchen_time_minutes = kitchen;
    return *this;
  }
  // A payment event; total given separately so mismatches can be built.
  Stream& paid(int64_t ts, const std::string& rest, const std::string& name,
               const std::string& table, const std::string& order, int64_t subtotal, int64_t tax,
               int64_t tip, std::optional<int64_t> total = std::nullopt) {
    Event& e = add(EventType::kPayment, ts, rest, name);
    e.table_id = table;
    e.order_id = order;
    e.subtotal_cents = subtotal;
    e.tax_cents = tax;
    e.tip_cents = tip;
    e.total_cents = total.value_or(subtotal + tax + tip);
    e.payment_method = "card";
    return *this;
  }
  // Sets the id of the last event added (for tie-break cases).
  Stream& id(const std::string& event_id) {
    events_.back().event_id = event_id;
    return *this;
  }
  // The last event added, to adjust a field.
  Event& last() { return events_.back(); }
  const std::vector<Event>& events() const { return events_; }

 private:
  Event& add(EventType type, int64_t ts, const std::string& rest, const std::string& name) {
    Event e;
    e.event_id = fmt::format("00000000-0000-4000-8000-{:012x}", events_.size() + 1);
    e.type = type;
    e.ts_ms = ts;
    e.restaurant_id = rest;
    e.restaurant_name = name;
    events_.push_back(std::move(e));
    return events_.back();
  }
  std::vector<Event> events_;
};

// Parses an expected JSON literal with ordered keys, so the field order is checked too.
RefJson J(const char* text) { return RefJson::parse(text); }

TEST(ReferenceWindow, StartBoundaryExcludedEndIncluded) {
  int64_t as_of = kT0 + 30 * kMin;
  Stream s;
  s.paid(as_of - 5 * kMin, "r1", "One", "T1", "o1", 1000, 0, 0)        // exactly as_of - W: out
      .paid(as_of - 5 * kMin + 1, "r1", "One", "T1", "o2", 200, 0, 0)  // 1 ms later: in
      .paid(as_of, "r1", "One", "T1", "o3", 30, 0, 0)                  // exactly as_of: in
      .paid(as_of + 1, "r1", "One", "T1", "o4", 4, 0, 0);              // after as_of: never
  EXPECT_EQ(reference_revenue(s.events(), as_of),
            J(R"([{"restaurant_id":"r1","restaurant_name":"One","revenue":2.3,"order_count":2,
                   "net_sales":2.3,"tax":0.0,"tips":0.0}])"));
  // The same boundary for a non-default window and for the other metrics.
  EXPECT_EQ(reference_revenue(s.events(), as_of, 1).at(0)["revenue"], 0.3);
  EXPECT_EQ(reference_funnel(s.events(), as_of - 5 * kMin, 1).at(0)["paid"], 1);
  EXPECT_EQ(reference_funnel(s.events(), as_of - 5 * kMin + 1, 1).at(0)["paid"], 1);
  EXPECT_EQ(reference_funnel(s.events(), as_of - 5 * kMin + 2, 1), RefJson::array());
}

TEST(ReferenceWindow, NoEventsGiveEmptyArrays) {
  for (auto metric : kReferenceMetrics) {
    EXPECT_EQ(reference_metric(metric, {}, kT0), RefJson::array()) << metric;
  }
  Stream s;
  s.seated(kT0, "r1", "One", "T1")
      .placed(kT0 + kMin, "r1", "One", "T1", "o1")
      .completed(kT0 + 2 * kMin, "r1", "One", "T1", "o1")
      .paid(kT0 + 3 * kMin, "r1", "One", "T1", "o1", 100, 10, 0);
  for (auto metric : kReferenceMetrics) {
    // Before all data, and long after it (the window holds nothing either way).
    EXPECT_EQ(reference_metric(metric, s.events(), kT0 - 1), RefJson::array()) << metric;
    EXPECT_EQ(reference_metric(metric, s.events(), kT0 + 24 * 60 * kMin), RefJson::array())
        << metric;
  }
  // as_of exactly on the first event: only that seating counts.
  EXPECT_EQ(reference_funnel(s.events(), kT0),
            J(R"([{"restaurant_id":"r1","restaurant_name":"One","seated":1,"ordered":0,
                   "completed":0,"paid":0,"seated_to_ordered":0.0,"ordered_to_completed":null,
                   "completed_to_paid":null}])"));
}

TEST(ReferenceNames, LatestNameAtOrBeforeAsOfAcrossTypesAndWindows) {
  int64_t as_of = kT0 + 60 * kMin;
  Stream s;
  s.seated(kT0, "r1", "Old Name", "T1")
      .paid(as_of - 4 * kMin, "r1", "Old Name", "T1", "o1", 100, 0, 0)
      // Not a payment and not in the revenue window's type, but later: its name wins.
      .completed(as_of - 2 * kMin, "r1", "New Name", "T9", "o9")
      // After as_of: never used, not even for the name.
      .seated(as_of + 1, "r1", "Future Name", "T1");
  EXPECT_EQ(reference_revenue(s.events(), as_of).at(0)["restaurant_name"], "New Name");
  // Earlier as_of: the rename has not happened yet.
  EXPECT_EQ(reference_revenue(s.events(), as_of - 3 * kMin).at(0)["restaurant_name"], "Old Name");
  // A 1 ms funnel window at the payment still names the restaurant by its latest event.
  EXPECT_EQ(reference_funnel(s.events(), as_of, 1), RefJson::array());
  EXPECT_EQ(reference_funnel(s.events(), as_of - 2 * kMin, 1).at(0)["restaurant_name"], "New Name");
  EXPECT_EQ(reference_funnel(s.events(), as_of - 4 * kMin, 1).at(0)["restaurant_name"], "Old Name");
}

TEST(ReferenceNames, EqualTimestampsTieBreakOnEventIdText) {
  // As text "1000…0001" < "2000…0000", so the second is the latest; ClickHouse's UUID order
  // says the opposite (it compares the second half first): SQL must compare toString(event_id).
  int64_t ts = kT0 + 10 * kMin;
  Stream s;
  s.paid(ts, "r1", "Beta", "T1", "o1", 100, 0, 0).id("20000000-0000-4000-8000-000000000000");
  s.seated(ts, "r1", "Alpha", "T1").id("10000000-0000-4000-8000-000000000001");
  EXPECT_EQ(reference_revenue(s.events(), ts).at(0)["restaurant_name"], "Beta");
  EXPECT_TRUE(later_event(s.events()[0], s.events()[1]));
  EXPECT_FALSE(later_event(s.events()[1], s.events()[0]));
}

TEST(ReferenceRevenue, ExactMoneyDistinctOrdersAndSortOrder) {
  int64_t as_of = kT0 + 10 * kMin;
  Stream s;
  // r2: a split bill (two payments of one order) and a total that disagrees with its parts.
  s.paid(as_of - kMin, "r2", "Two", "T1", "o1", 10, 20, 0)
      .paid(as_of - 2 * kMin, "r2", "Two", "T1", "o1", 1000, 80, 120, 1300)
      // r1 and r3 tie on revenue: restaurant_id ascending.
      .paid(as_of - kMin, "r3", "Three", "T1", "o3", 500, 0, 0)
      .paid(as_of - kMin, "r1", "One", "T1", "o2", 400, 60, 40);
  EXPECT_EQ(reference_revenue(s.events(), as_of),
            J(R"([{"restaurant_id":"r2","restaurant_name":"Two","revenue":13.3,"order_count":1,
                   "net_sales":10.1,"tax":1.0,"tips":1.2},
                  {"restaurant_id":"r1","restaurant_name":"One","revenue":5.0,"order_count":1,
                   "net_sales":4.0,"tax":0.6,"tips":0.4},
                  {"restaurant_id":"r3","restaurant_name":"Three","revenue":5.0,
                   "order_count":1,"net_sales":5.0,"tax":0.0,"tips":0.0}])"));
  // 0.1 + 0.2 in cents: exactly 0.3, never 0.30000000000000004 (r2 is last in this window).
  RefJson last_minute = reference_revenue(s.events(), as_of, kMin + 1);
  ASSERT_EQ(last_minute.size(), 3u);
  EXPECT_EQ(last_minute[2]["restaurant_id"], "r2");
  EXPECT_EQ(last_minute[2]["revenue"], 0.3);
}

TEST(ReferenceFunnel, DistinctOrdersRatiosAndNulls) {
  int64_t as_of = kT0 + 60 * kMin;
  Stream s;
  s.seated(as_of - 50 * kMin, "r1", "One", "T1")
      .seated(as_of - 49 * kMin, "r1", "One", "T2")
      .seated(as_of - 48 * kMin, "r1", "One", "T3")
      .seated(as_of - 47 * kMin, "r1", "One", "T1")
      .placed(as_of - 40 * kMin, "r1", "One", "T1", "o1")
      .placed(as_of - 30 * kMin, "r1", "One", "T1", "o1")  // a second round of o1: one order
      .placed(as_of - 40 * kMin, "r1", "One", "T2", "o2")
      .placed(as_of - 40 * kMin, "r1", "One", "T3", "o3")
      .completed(as_of - 20 * kMin, "r1", "One", "T1", "o1")
      .completed(as_of - 20 * kMin, "r1", "One", "T2", "o2")
      .paid(as_of - 10 * kMin, "r1", "One", "T1", "o1", 100, 0, 0)
      .paid(as_of - 9 * kMin, "r1", "One", "T1", "o1", 100, 0, 0)  // split bill: one order
      // r2 only has a payment (its order was placed before the window): every ratio is 0/0
      // or x/0.
      .placed(as_of - 90 * kMin, "r2", "Two", "T1", "o9")
      .paid(as_of - kMin, "r2", "Two", "T1", "o9", 100, 0, 0);
  EXPECT_EQ(reference_funnel(s.events(), as_of),
            J(R"([{"restaurant_id":"r1","restaurant_name":"One","seated":4,"ordered":3,
                   "completed":2,"paid":1,"seated_to_ordered":0.75,
                   "ordered_to_completed":0.6666666666666666,"completed_to_paid":0.5},
                  {"restaurant_id":"r2","restaurant_name":"Two","seated":0,"ordered":0,
                   "completed":0,"paid":1,"seated_to_ordered":null,
                   "ordered_to_completed":null,"completed_to_paid":null}])"));
}

TEST(ReferenceTopItems, NamesFromLatestInWindowTiesAndLimit) {
  int64_t as_of = kT0 + 60 * kMin;
  Stream s;
  // Before the window: counts nothing, names nothing.
  s.placed(as_of - 40 * kMin, "r1", "One", "T1", "o0", {{"i-a", 50}});
  s.last().items[0].item_name = "A ancient";
  s.placed(as_of - 20 * kMin, "r1", "One", "T1", "o1", {{"i-a", 2}, {"i-b", 1}});
  s.last().items[0].item_name = "A old";
  s.placed(as_of - 10 * kMin, "r2", "Two", "T1", "o2", {{"i-a", 1}, {"i-c", 3}});
  s.last().items[0].item_name = "A new";
  s.last().items[0].category = "mains";
  // After as_of: neither counts nor renames.
  s.placed(as_of + 1, "r2", "Two", "T1", "o5", {{"i-a", 9}});
  s.last().items[0].item_name = "A future";
  // i-b: a second round of o1 (same order_id) adds quantity but not a distinct order.
  s.placed(as_of - 5 * kMin, "r1", "One", "T1", "o1", {{"i-b", 2}});
  // i-d ties i-c on quantity (3) and on times_ordered (1): item_id ascending puts i-c first;
  // i-a also has 3 but two orders, so it comes first.
  s.placed(as_of, "r3", "Three", "T1", "o3", {{"i-d", 3}});
  RefJson all = reference_top_items(s.events(), as_of);
  EXPECT_EQ(all, J(R"([
      {"item_id":"i-a","item_name":"A new","category":"mains","quantity":3,"times_ordered":2},
      {"item_id":"i-b","item_name":"i-b v1","category":"c","quantity":3,"times_ordered":1},
      {"item_id":"i-c","item_name":"i-c v1","category":"c","quantity":3,"times_ordered":1},
      {"item_id":"i-d","item_name":"i-d v1","category":"c","quantity":3,"times_ordered":1}])"));
  RefJson two = reference_top_items(s.events(), as_of, kTopItemsWindowMs, 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1]["item_id"], "i-b");
  // Equal timestamps: the larger event_id text is the latest and names the item.
  Stream t;
  t.placed(kT0, "r1", "One", "T1", "o1", {{"i-z", 1}}).id("20000000-0000-4000-8000-000000000000");
  t.last().items[0].item_name = "Z by 2";
  t.placed(kT0, "r1", "One", "T2", "o2", {{"i-z", 1}}).id("10000000-0000-4000-8000-000000000001");
  t.last().items[0].item_name = "Z by 1";
  EXPECT_EQ(reference_top_items(t.events(), kT0).at(0)["item_name"], "Z by 2");
}

TEST(ReferenceWaitTimes, MatchesOutsideTheWindowAndLeftOutSamples) {
  int64_t as_of = kT0 + 180 * kMin;
  Stream s;
  // T1: seated 3 h before as_of (long before the 60 min window), ordered in the window.
  s.seated(kT0, "r1", "One", "T1")
      .placed(as_of - 50 * kMin, "r1", "One", "T1", "o1")  // seat→order 130 min
      // A later seating of T1 must not be used for o1 (it is after P).
      .seated(as_of - 45 * kMin, "r1", "One", "T1")
      // T2 seated exactly when the order is placed (S.ts <= P.ts): 0 min.
      .seated(as_of - 40 * kMin, "r1", "One", "T2")
      .placed(as_of - 40 * kMin, "r1", "One", "T2", "o2")
      // T3 never seated: left out of seat→order.
      .placed(as_of - 30 * kMin, "r1", "One", "T3", "o3")
      // T4 seated only after as_of: left out.
      .placed(as_of - 30 * kMin, "r1", "One", "T4", "o4")
      .seated(as_of + 1, "r1", "One", "T4")
      // Kitchen: o1 (placed in window) 20 min; o0 placed before the window 70 min;
      // o8 has no order_placed (left out of avg_kitchen, still in avg_reported);
      // o9's order_placed is after as_of (left out).
      .completed(as_of - 30 * kMin, "r1", "One", "T1", "o1", 19.5)
      .placed(as_of - 100 * kMin, "r1", "One", "T5", "o0")
      .completed(as_of - 30 * kMin, "r1", "One", "T5", "o0", 60.0)
      .completed(as_of - 20 * kMin, "r1", "One", "T6", "o8", 4.5)
      .completed(as_of - 10 * kMin, "r1", "One", "T7", "o9", 6.0)
      .placed(as_of + 5 * kMin, "r1", "One", "T7", "o9")
      // Payments: o1 10 min after completion; o0's completion was in window too (15 min);
      // o3 was never completed (left out).
      .paid(as_of - 20 * kMin, "r1", "One", "T1", "o1", 100, 0, 0)
      .paid(as_of - 15 * kMin, "r1", "One", "T5", "o0", 100, 0, 0)
      .paid(as_of - 5 * kMin, "r1", "One", "T3", "o3", 100, 0, 0);
  // r2: only a completion without order_placed; r3: only seatings (no sample: no row).
  s.completed(as_of - kMin, "r2", "Two", "T1", "o20", 7.0)
      .seated(as_of - kMin, "r3", "Three", "T1");
  EXPECT_EQ(reference_wait_times(s.events(), as_of),
            J(R"([{"restaurant_id":"r1","restaurant_name":"One","avg_seat_to_order_min":65.0,
                   "avg_kitchen_min":45.0,"avg_reported_kitchen_min":22.5,
                   "avg_completion_to_payment_min":12.5,"seat_to_order_samples":2,
                   "kitchen_samples":2,"completion_to_payment_samples":2},
                  {"restaurant_id":"r2","restaurant_name":"Two","avg_seat_to_order_min":null,
                   "avg_kitchen_min":null,"avg_reported_kitchen_min":7.0,
                   "avg_completion_to_payment_min":null,"seat_to_order_samples":0,
                   "kitchen_samples":0,"completion_to_payment_samples":0}])"));
  // Fractions of a minute: 90 s → 1.5 min.
  Stream t;
  t.seated(kT0, "r1", "One", "T1").placed(kT0 + 90 * kSec, "r1", "One", "T1", "o1");
  EXPECT_EQ(reference_wait_times(t.events(), kT0 + 90 * kSec).at(0)["avg_seat_to_order_min"], 1.5);
}

TEST(ReferenceWaitTimes, SeveralPlacementsUseTheEarliestAtOrBeforeAsOf) {
  int64_t as_of = kT0 + 60 * kMin;
  Stream s;
  s.placed(as_of - 30 * kMin, "r1", "One", "T1", "o1")
      .placed(as_of - 20 * kMin, "r1", "One", "T1", "o1")
      .completed(as_of - 10 * kMin, "r1", "One", "T1", "o1")
      .completed(as_of - 5 * kMin, "r1", "One", "T1", "o1")
      .paid(as_of, "r1", "One", "T1", "o1", 1, 0, 0);
  RefJson rows = reference_wait_times(s.events(), as_of);
  ASSERT_EQ(rows.size(), 1u);
  // Two completions: 20 and 25 min after the earliest placement.
  EXPECT_EQ(rows[0]["avg_kitchen_min"], 22.5);
  EXPECT_EQ(rows[0]["kitchen_samples"], 2);
  // Payment against the earliest completion: 10 min.
  EXPECT_EQ(rows[0]["avg_completion_to_payment_min"], 10.0);
  // The earlier placement is after as_of here: the later one (still <= as_of) is used.
  Stream t;
  t.placed(as_of + 10 * kMin, "r1", "One", "T1", "o1")
      .placed(as_of - 20 * kMin, "r1", "One", "T1", "o1")
      .completed(as_of - 10 * kMin, "r1", "One", "T1", "o1");
  EXPECT_EQ(reference_wait_times(t.events(), as_of).at(0)["avg_kitchen_min"], 10.0);
}

TEST(ReferenceTurnover, TableTimeThroughEarliestOrderAndLatestSeating) {
  int64_t as_of = kT0 + 240 * kMin;
  Stream s;
  // o1: seated at T1 3 h before as_of, ordered, then a new party at T1 and a second round of
  // o1 (same order_id) after it; the earliest placement → the first seating: 170 min.
  s.seated(as_of - 180 * kMin, "r1", "One", "T1")
      .placed(as_of - 170 * kMin, "r1", "One", "T1", "o1")
      .seated(as_of - 50 * kMin, "r1", "One", "T1")
      .placed(as_of - 40 * kMin, "r1", "One", "T1", "o1")
      .paid(as_of - 10 * kMin, "r1", "One", "T1", "o1", 100, 0, 0)
      // o2: seated and placed in the window, paid at as_of: 30 min.
      .seated(as_of - 30 * kMin, "r1", "One", "T2")
      .placed(as_of - 25 * kMin, "r1", "One", "T2", "o2")
      .paid(as_of, "r1", "One", "T2", "o2", 100, 0, 0)
      // o3: no order_placed at or before as_of: left out.
      .paid(as_of - 5 * kMin, "r1", "One", "T3", "o3", 100, 0, 0)
      .placed(as_of + 1, "r1", "One", "T3", "o3")
      // o4: placed at a table never seated: left out.
      .placed(as_of - 20 * kMin, "r1", "One", "T9", "o4")
      .paid(as_of - 2 * kMin, "r1", "One", "T9", "o4", 100, 0, 0)
      .seated(as_of - 20 * kMin, "r1", "One", "T2");
  // r2: payments but no seating in the window: no row; r3: a seating without payments.
  s.seated(as_of - 100 * kMin, "r2", "Two", "T1")
      .placed(as_of - 90 * kMin, "r2", "Two", "T1", "o20")
      .paid(as_of - kMin, "r2", "Two", "T1", "o20", 1, 0, 0)
      .seated(as_of - 60 * kMin + 1, "r3", "Three", "T1");
  EXPECT_EQ(reference_turnover(s.events(), as_of),
            J(R"([{"restaurant_id":"r1","restaurant_name":"One","seatings":3,"tables_used":2,
                   "turns_per_table":1.5,"avg_table_time_min":100.0},
                  {"restaurant_id":"r3","restaurant_name":"Three","seatings":1,"tables_used":1,
                   "turns_per_table":1.0,"avg_table_time_min":null}])"));
}

}  // namespace
}  // namespace tp::test
