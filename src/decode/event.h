#pragma once
// A validated, normalised event: what the decoder produces and the sink stores.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tp {

// Event times end before 2100-01-01 (UTC epoch ms): the DateTime64 range the schema relies on
// (partitions, and a TTL that cannot wrap: see clickhouse::kMaxTtlDays).
inline constexpr int64_t kMaxEventTsMs = 4102444800000LL;

// The four event types, with the values of the events.event_type Enum8 column.
enum class EventType : uint8_t {
  kTableSeated = 1,
  kOrderPlaced = 2,
  kOrderCompleted = 3,
  kPayment = 4,
};

// Wire name of a type ("table_seated").
std::string_view event_type_name(EventType type);
// The type named `name`, if it is one of the four.
std::optional<EventType> parse_event_type(std::string_view name);

// One line of an order_placed event. Money is in cents: exact decimal arithmetic everywhere.
struct LineItem {
  std::string item_id;
  std::string item_name;
  std::string category;
  uint32_t quantity = 0;
  int64_t price_cents = 0;  // the unit price (the wire's `price`), in cents
};

// An event after validation: UUID lower-cased, timestamp in UTC milliseconds, money in cents.
struct Event {
  std::string event_id;  // opaque id as sent (1-128 bytes); a UUID in canonical lower case
  EventType type = EventType::kTableSeated;
  int64_t ts_ms = 0;  // event time, Unix epoch milliseconds, UTC
  std::string restaurant_id;
  std::string restaurant_name;
  std::string table_id;
  std::string order_id;  // empty for table_seated
  std::string server_id;  // table_seated only
  uint16_t party_size = 0;  // table_seated only
  std::vector<LineItem> items;  // order_placed only
  int64_t subtotal_cents = 0;  // order_placed and payment
  int64_t tax_cents = 0;  // payment
  int64_t tip_cents = 0;  // payment
  int64_t total_cents = 0;  // payment
  std::string payment_method;  // payment
  std::optional<double> kitchen_time_minutes;  // order_completed
};

}  // namespace tp
