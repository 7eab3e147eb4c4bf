#include "decode/event.h"

namespace tp {

std::string_view event_type_name(EventType type) {
  switch (type) {
    case EventType::kTableSeated:
      return "table_seated";
    case EventType::kOrderPlaced:
      return "order_placed";
    case EventType::kOrderCompleted:
      return "order_completed";
    case EventType::kPayment:
      return "payment";
  }
  return "unknown";
}

std::optional<EventType> parse_event_type(std::string_view name) {
  if (name == "table_seated") return EventType::kTableSeated;
  if (name == "order_placed") return EventType::kOrderPlaced;
  if (name == "order_completed") return EventType::kOrderCompleted;
  if (name == "payment") return EventType::kPayment;
  return std::nullopt;
}

}  // namespace tp
