#include "ingest/row_encoder.h"

#include <fmt/format.h>

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

std::string cents_to_decimal(int64_t cents) {
  const char* sign = cents < 0 ? "-" : "";
  int64_t magnitude = cents < 0 ? -cents : cents;
  return fmt::format("{}{}.{:02}", sign, magnitude / 100, magnitude % 100);
}

std::string_view event_row_columns() {
  return "(event_id, event_type, ts, restaurant_id, restaurant_name, table_id, order_id, "
         "server_id, party_size, items, subtotal, tax, tip, total_amount, payment_method, "
         "kitchen_time_minutes, content_hash, source_id, source_offset)";
}

void append_event_row(std::string& out, const Event& event, uint64_t content_hash,
                      const RowOrigin& origin) {
  auto it = std::back_inserter(out);
  fmt::format_to(it, R"({{"event_id":"{}","event_type":"{}","ts":"{}","restaurant_id":)",
                 event.event_id, event_type_name(event.type), format_clickhouse_ms(event.ts_ms));
  append_json_string(out, event.restaurant_id);
  out += ",\"restaurant_name\":";
  append_json_string(out, event.restaurant_name);
  out += ",\"table_id\":";
  append_json_string(out, event.table_id);
  out += ",\"order_id\":";
  append_json_string(out, event.order_id);
  out += ",\"server_id\":";
  append_json_string(out, event.server_id);
  fmt::format_to(it, ",\"party_size\":{},\"items\":[", event.party_size);
  bool first = true;
  for (const auto& item : event.items) {
    if (!first) out.push_back(',');
    first = false;
    out += "{\"item_id\":";
    append_json_string(out, item.item_id);
    out += ",\"item_name\":";
    append_json_string(out, item.item_name);
    out += ",\"category\":";
    append_json_string(out, item.category);
    fmt::format_to(it, ",\"quantity\":{},\"unit_price\":{}}}", item.quantity,
                   cents_to_decimal(item.unit_price_cents));
  }
  fmt::format_to(it, R"(],"subtotal":{},"tax":{},"tip":{},"total_amount":{},"payment_method":)",
                 cents_to_decimal(event.subtotal_cents), cents_to_decimal(event.tax_cents),
                 cents_to_decimal(event.tip_cents), cents_to_decimal(event.total_cents));
  append_json_string(out, event.payment_method);
  if (event.kitchen_time_minutes) {
    fmt::format_to(it, ",\"kitchen_time_minutes\":{}", *event.kitchen_time_minutes);
  } else {
    out += ",\"kitchen_time_minutes\":null";
  }
  fmt::format_to(it, ",\"content_hash\":{},\"source_id\":", content_hash);
  append_json_string(out, origin.source_id);
  fmt::format_to(it, ",\"source_offset\":{}}}\n", origin.offset);
}

}  // namespace tp::ingest
