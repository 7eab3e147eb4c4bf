#include "ingest/row_encoder.h"

#include <fmt/format.h>

#include <cstring>
#include <type_traits>

#include "common/time.h"

namespace tp::ingest {

void append_json_string(std::string& out, std::string_view value) {
  out.push_back('"');
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string_view event_row_columns() {
  return "(event_id, event_type, ts, restaurant_id, restaurant_name, table_id, order_id, "
         "server_id, party_size, items, subtotal, tax, tip, total_amount, payment_method, "
         "kitchen_time_minutes, content_hash, source_id, source_offset)";
}

namespace {

// Fixed-width integers are little-endian in RowBinary, as on this machine.
template <typename T>
void put(std::string& out, T value) {
  static_assert(std::is_integral_v<T> || std::is_floating_point_v<T>);
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

// Lengths (of strings and arrays) are LEB128 varints.
void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_string(std::string& out, std::string_view value) {
  put_varint(out, value.size());
  out.append(value);
}

int hex_digit(char c) {
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

// A UUID is two 64-bit halves, each little-endian: the text's first 8 bytes reversed, then
// its last 8 bytes reversed. The decoder has already checked the text is a UUID.
void put_uuid(std::string& out, std::string_view text) {
  uint8_t bytes[16];
  size_t n = 0;
  for (size_t i = 0; i + 1 < text.size() && n < 16; ++i) {
    if (text[i] == '-') continue;
    bytes[n++] = static_cast<uint8_t>(hex_digit(text[i]) << 4 | hex_digit(text[i + 1]));
    ++i;
  }
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(bytes[i]));
  for (int i = 15; i >= 8; --i) out.push_back(static_cast<char>(bytes[i]));
}

}  // namespace

void append_event_row(std::string& out, const Event& event, uint64_t content_hash,
                      const RowOrigin& origin) {
  put_uuid(out, event.event_id);
  put(out, static_cast<int8_t>(event.type));  // Enum8 values are the EventType values
  put(out, event.ts_ms);                      // DateTime64(3): milliseconds
  put_string(out, event.restaurant_id);
  put_string(out, event.restaurant_name);
  put_string(out, event.table_id);
  put_string(out, event.order_id);
  put_string(out, event.server_id);
  put(out, event.party_size);
  put_varint(out, event.items.size());
  for (const auto& item : event.items) {
    put_string(out, item.item_id);
    put_string(out, item.item_name);
    put_string(out, item.category);
    put(out, item.quantity);
    put(out, item.unit_price_cents);  // Decimal(12, 2): an Int64 of cents
  }
  put(out, event.subtotal_cents);
  put(out, event.tax_cents);
  put(out, event.tip_cents);
  put(out, event.total_cents);
  put_string(out, event.payment_method);
  if (event.kitchen_time_minutes) {  // Nullable: a null flag, then the value when not null
    put(out, uint8_t{0});
    put(out, *event.kitchen_time_minutes);
  } else {
    put(out, uint8_t{1});
  }
  put(out, content_hash);
  put_string(out, origin.source_id);
  put(out, origin.offset);
}

}  // namespace tp::ingest
