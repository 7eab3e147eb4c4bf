#pragma once
// An independent reference implementation of the dashboard metrics of
// ../shared/spec/metrics.md in plain C++ over an event list (no SQL), used by the tests to
// check what `tablepulse query` answers.
//
// Rules the spec leaves open, decided here once (the engine's SQL must follow the same ones):
//  * "Latest" / "earliest" order events by (timestamp, event_id) where event_id is compared as
//    its stored text, byte by byte: an opaque id as sent, a UUID in canonical lower case (the
//    order of its value). "Latest" is the maximum of that order: on equal timestamps the
//    LARGER event_id wins; "earliest" is the minimum: on equal timestamps the SMALLER wins.
//    (ClickHouse's UUID type orders by the second half first, so a UUID column would sort
//    toUUID('10000000-…-000000000001') after toUUID('20000000-…-000000000000'); the String
//    column compares the text, as this reference does.)
//  * Nothing later than as_of is ever used, also not to find a restaurant's name, an order's
//    order_placed / order_completed, or a seating. Matches may lie before the window.
//  * An order with several order_placed events (or several order_completed events) at or
//    before as_of is matched to its EARLIEST one (kitchen time, seat→order of turnover,
//    completion→payment); an order_placed later than the completion or payment still matches
//    (the spec does not require causal order; the difference is then negative).
//  * Orders are matched by order_id alone (the spec says "the same order_id"); a seating is
//    matched by restaurant_id + table_id of the order_placed, the latest with S.ts <= P.ts.
//  * wait-times has a row when the restaurant has at least one sample of ANY of its four
//    averages in the window; an order_completed in the window is always a sample of
//    avg_reported_kitchen_min, even when its order_placed is missing (kitchen_samples 0).
//  * avg_reported_kitchen_min averages the completions that carry kitchen_time_minutes.
//  * top-items: item_name/category come from the item's latest order_placed in the window; if
//    that event lists the item on several lines, its first line.
// Output: JSON arrays of objects with the spec's field names in the spec's order; money as a
// number cents/100.0, counts as integers, ratios and minutes as doubles or null.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "decode/event.h"

namespace tp::test {

// Objects keep the spec's field order (plain nlohmann::json would sort the keys).
using RefJson = nlohmann::ordered_json;

// Spec default windows, so the tests do not depend on the engine's own constants.
inline constexpr int64_t kMinuteMs = 60'000;
inline constexpr int64_t kRevenueWindowMs = 5 * kMinuteMs;
inline constexpr int64_t kFunnelWindowMs = 60 * kMinuteMs;
inline constexpr int64_t kTopItemsWindowMs = 30 * kMinuteMs;
inline constexpr int64_t kWaitTimesWindowMs = 60 * kMinuteMs;
inline constexpr int64_t kTurnoverWindowMs = 60 * kMinuteMs;
inline constexpr int kTopItemsDefaultLimit = 10;

// The five windowed metrics by CLI name, for loops in the tests.
inline constexpr std::string_view kReferenceMetrics[] = {"revenue", "funnel", "top-items",
                                                         "wait-times", "turnover"};

// True when a is later than b by the tie rule above (timestamp, then event_id text).
bool later_event(const Event& a, const Event& b);

// revenue: one row per restaurant with a payment in the window.
RefJson reference_revenue(const std::vector<Event>& events, int64_t as_of_ms,
                          int64_t window_ms = kRevenueWindowMs);
// funnel: one row per restaurant with any event in the window.
RefJson reference_funnel(const std::vector<Event>& events, int64_t as_of_ms,
                         int64_t window_ms = kFunnelWindowMs);
// top-items: the first `limit` items of the window's order_placed line items.
RefJson reference_top_items(const std::vector<Event>& events, int64_t as_of_ms,
                            int64_t window_ms = kTopItemsWindowMs,
                            int limit = kTopItemsDefaultLimit);
// wait-times: per-restaurant averages of the spec's four intervals.
RefJson reference_wait_times(const std::vector<Event>& events, int64_t as_of_ms,
                             int64_t window_ms = kWaitTimesWindowMs);
// turnover: seatings, tables and time at table per restaurant with a seating in the window.
RefJson reference_turnover(const std::vector<Event>& events, int64_t as_of_ms,
                           int64_t window_ms = kTurnoverWindowMs);

// The spec's default window of a metric named as on the CLI ("top-items"); 0 if unknown.
int64_t reference_default_window_ms(std::string_view metric);
// Dispatches on the CLI name, with the spec's defaults for an absent window or limit.
RefJson reference_metric(std::string_view metric, const std::vector<Event>& events,
                         int64_t as_of_ms, std::optional<int64_t> window_ms = std::nullopt,
                         std::optional<int> limit = std::nullopt);

}  // namespace tp::test
