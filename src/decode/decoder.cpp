#include "decode/decoder.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "common/time.h"

namespace tp::decode {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

constexpr size_t kMaxIdBytes = 64;
constexpr size_t kMaxNameBytes = 200;
constexpr size_t kMaxItems = 200;
constexpr int64_t kMaxMoneyCents = 1'000'000'000'00LL;  // 1e9 in currency units per field

// A refusal raised while walking the object; caught once at the top of decode().
struct Refused {
  Reason reason;
  std::string detail;
};

std::string_view json_type_name(simdjson::dom::element_type type) {
  switch (type) {
    case simdjson::dom::element_type::ARRAY:
      return "array";
    case simdjson::dom::element_type::OBJECT:
      return "object";
    case simdjson::dom::element_type::STRING:
      return "string";
    case simdjson::dom::element_type::BOOL:
      return "boolean";
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
    default:
      return "number";
  }
}

element field(const object& obj, std::string_view name, std::string_view where) {
  element value;
  if (obj[name].get(value) != simdjson::SUCCESS) {
    throw Refused{Reason::kMissingField, fmt::format("{}{}", where, name)};
  }
  return value;
}

std::string_view string_field(const object& obj, std::string_view name, size_t max_bytes,
                              std::string_view where = "") {
  element value = field(obj, name, where);
  std::string_view text;
  if (value.get(text) != simdjson::SUCCESS) {
    throw Refused{Reason::kWrongType, fmt::format("{}{}: expected string, got {}", where, name,
                                                  json_type_name(value.type()))};
  }
  if (text.empty() || text.size() > max_bytes) {
    throw Refused{Reason::kOutOfRange,
                  fmt::format("{}{}: length {} not in 1..{}", where, name, text.size(), max_bytes)};
  }
  return text;
}

int64_t integer_field(const object& obj, std::string_view name, int64_t min, int64_t max,
                      std::string_view where = "") {
  element value = field(obj, name, where);
  int64_t number;
  if (value.get(number) != simdjson::SUCCESS) {
    double real;
    if (value.get(real) == simdjson::SUCCESS && std::floor(real) == real &&
        std::fabs(real) < 9e15) {
      number = static_cast<int64_t>(real);  // 2.0 is an integer written as a float
    } else {
      throw Refused{Reason::kWrongType, fmt::format("{}{}: expected integer, got {}", where, name,
                                                    json_type_name(value.type()))};
    }
  }
  if (number < min || number > max) {
    throw Refused{Reason::kOutOfRange,
                  fmt::format("{}{}: {} not in {}..{}", where, name, number, min, max)};
  }
  return number;
}

double number_field(const object& obj, std::string_view name, double min, double max,
                    std::string_view where = "") {
  element value = field(obj, name, where);
  double number;
  if (value.get(number) != simdjson::SUCCESS) {
    throw Refused{Reason::kWrongType, fmt::format("{}{}: expected number, got {}", where, name,
                                                  json_type_name(value.type()))};
  }
  if (!(number >= min && number <= max)) {
    throw Refused{Reason::kOutOfRange,
                  fmt::format("{}{}: {} not in {}..{}", where, name, number, min, max)};
  }
  return number;
}

// Money to cents, rounded half away from zero (Decimal(12, 2) semantics).
int64_t money_field(const object& obj, std::string_view name, std::string_view where = "") {
  double amount = number_field(obj, name, 0, static_cast<double>(kMaxMoneyCents) / 100, where);
  return static_cast<int64_t>(std::llround(amount * 100.0));
}

void append_field(std::string& out, std::string_view value) {
  out.append(value);
  out.push_back('\x1f');
}

// The normalised content of an event, hashed to tell exact redeliveries from conflicts.
uint64_t content_hash(const Event& event) {
  std::string canonical;
  canonical.reserve(256);
  append_field(canonical, event.event_id);
  append_field(canonical, event_type_name(event.type));
  append_field(canonical, std::to_string(event.ts_ms));
  append_field(canonical, event.restaurant_id);
  append_field(canonical, event.restaurant_name);
  append_field(canonical, event.table_id);
  append_field(canonical, event.order_id);
  append_field(canonical, event.server_id);
  append_field(canonical, std::to_string(event.party_size));
  for (const auto& item : event.items) {
    append_field(canonical, item.item_id);
    append_field(canonical, item.item_name);
    append_field(canonical, item.category);
    append_field(canonical, std::to_string(item.quantity));
    append_field(canonical, std::to_string(item.price_cents));
  }
  append_field(canonical, fmt::format("{}|{}|{}|{}", event.subtotal_cents, event.tax_cents,
                                      event.tip_cents, event.total_cents));
  append_field(canonical, event.payment_method);
  append_field(canonical, event.kitchen_time_minutes ? fmt::format("{}", *event.kitchen_time_minutes)
                                                     : std::string("-"));
  return stable_hash(canonical);
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void decode_items(const object& obj, Event& event) {
  element value = field(obj, "items", "");
  simdjson::dom::array items;
  if (value.get(items) != simdjson::SUCCESS) {
    throw Refused{Reason::kWrongType,
                  fmt::format("items: expected array, got {}", json_type_name(value.type()))};
  }
  size_t count = items.size();
  if (count == 0) throw Refused{Reason::kEmptyItems, "items: empty array"};
  if (count > kMaxItems) {
    throw Refused{Reason::kOutOfRange, fmt::format("items: {} items, at most {}", count, kMaxItems)};
  }
  event.items.reserve(count);
  size_t index = 0;
  for (element entry : items) {
    std::string where = fmt::format("items[{}].", index++);
    object item;
    if (entry.get(item) != simdjson::SUCCESS) {
      throw Refused{Reason::kWrongType, fmt::format("{}: expected object, got {}",
                                                    where.substr(0, where.size() - 1),
                                                    json_type_name(entry.type()))};
    }
    LineItem line;
    line.item_id = string_field(item, "item_id", kMaxIdBytes, where);
    line.item_name = string_field(item, "item_name", kMaxNameBytes, where);
    line.category = string_field(item, "category", kMaxIdBytes, where);
    line.quantity = static_cast<uint32_t>(integer_field(item, "quantity", 1, 1000, where));
    line.price_cents = money_field(item, "unit_price", where);
    event.items.push_back(std::move(line));
  }
}

Decoded decode_object(const object& obj) {
  Decoded decoded;
  Event& event = decoded.event;
  // Type first: an unknown type is reported as such, whatever else is wrong.
  element type_value = field(obj, "event_type", "");
  std::string_view type_name;
  if (type_value.get(type_name) != simdjson::SUCCESS) {
    throw Refused{Reason::kWrongType, fmt::format("event_type: expected string, got {}",
                                                  json_type_name(type_value.type()))};
  }
  auto type = parse_event_type(type_name);
  if (!type) {
    throw Refused{Reason::kUnknownEventType, fmt::format("event_type: '{}'", type_name)};
  }
  event.type = *type;
  std::string_view id = string_field(obj, "event_id", kMaxIdBytes);
  if (!is_uuid(id)) throw Refused{Reason::kInvalidEventId, fmt::format("event_id: '{}'", id)};
  event.event_id = lower(id);
  std::string_view timestamp = string_field(obj, "timestamp", kMaxIdBytes);
  auto ts = parse_rfc3339_ms(timestamp);
  if (!ts) throw Refused{Reason::kInvalidTimestamp, fmt::format("timestamp: '{}'", timestamp)};
  if (*ts < 0 || *ts >= 4102444800000LL) {  // DateTime64 range used: 1970 .. 2100
    throw Refused{Reason::kOutOfRange, fmt::format("timestamp: '{}' not in 1970..2100", timestamp)};
  }
  event.ts_ms = *ts;
  event.restaurant_id = string_field(obj, "restaurant_id", kMaxIdBytes);
  event.restaurant_name = string_field(obj, "restaurant_name", kMaxNameBytes);
  event.table_id = string_field(obj, "table_id", kMaxIdBytes);
  switch (event.type) {
    case EventType::kTableSeated:
      event.party_size = static_cast<uint16_t>(integer_field(obj, "party_size", 1, 100));
      event.server_id = string_field(obj, "server_id", kMaxIdBytes);
      break;
    case EventType::kOrderPlaced: {
      event.order_id = string_field(obj, "order_id", kMaxIdBytes);
      decode_items(obj, event);
      event.subtotal_cents = money_field(obj, "subtotal");
      int64_t items_cents = 0;
      for (const auto& item : event.items) items_cents += item.quantity * item.price_cents;
      decoded.subtotal_mismatch = std::llabs(items_cents - event.subtotal_cents) > 1;
      break;
    }
    case EventType::kOrderCompleted:
      event.order_id = string_field(obj, "order_id", kMaxIdBytes);
      event.kitchen_time_minutes = number_field(obj, "kitchen_time_minutes", 0, 7 * 24 * 60);
      break;
    case EventType::kPayment: {
      event.order_id = string_field(obj, "order_id", kMaxIdBytes);
      event.subtotal_cents = money_field(obj, "subtotal");
      event.tax_cents = money_field(obj, "tax");
      event.tip_cents = money_field(obj, "tip");
      event.total_cents = money_field(obj, "total_amount");
      std::string_view method = string_field(obj, "payment_method", kMaxIdBytes);
      if (method != "card" && method != "cash" && method != "mobile") {
        throw Refused{Reason::kOutOfRange,
                      fmt::format("payment_method: '{}' is not card, cash or mobile", method)};
      }
      event.payment_method = method;
      decoded.total_mismatch =
          std::llabs(event.subtotal_cents + event.tax_cents + event.tip_cents - event.total_cents) > 1;
      break;
    }
  }
  decoded.content_hash = content_hash(event);
  return decoded;
}

}  // namespace

uint64_t stable_hash(std::string_view data, uint64_t seed) {
  uint64_t hash = seed;
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

bool is_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

std::variant<Decoded, Rejection> Decoder::decode(std::string_view line) {
  if (line.size() > max_line_bytes_) {
    return Rejection{Reason::kLineTooLong,
                     fmt::format("{} bytes, at most {}", line.size(), max_line_bytes_)};
  }
  if (buffer_.size() < line.size() || buffer_.data() == nullptr) {
    buffer_ = simdjson::padded_string(line.size() * 2 + 64);
  }
  if (!line.empty()) std::memcpy(buffer_.data(), line.data(), line.size());
  element root;
  auto error = parser_.parse(buffer_.data(), line.size(), false).get(root);
  if (error == simdjson::UTF8_ERROR) return Rejection{Reason::kInvalidUtf8, "invalid UTF-8"};
  if (error != simdjson::SUCCESS) {
    return Rejection{Reason::kNotJson, std::string(simdjson::error_message(error))};
  }
  object obj;
  if (root.get(obj) != simdjson::SUCCESS) {
    return Rejection{Reason::kNotObject, fmt::format("got {}", json_type_name(root.type()))};
  }
  try {
    return decode_object(obj);
  } catch (const Refused& refused) {
    return Rejection{refused.reason, refused.detail};
  }
}

}  // namespace tp::decode
