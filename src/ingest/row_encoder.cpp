#include "ingest/row_encoder.h"

#include <fmt/format.h>

#include <cstring>
#include <type_traits>

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

namespace {

// Fixed-width integers are little-endian in Native, as on this machine.
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

}  // namespace

std::span<const EventBlock::ColumnSpec> EventBlock::event_block_columns() {
  // Strings are sent as String, which the engine converts to the LowCardinality columns.
  // An array, not a vector: aggregate initialisation keeps each initializer_list's data alive.
  static const ColumnSpec kColumns[] = {
      {"event_id", "String", {kEventId}},
      {"event_type",
       "Enum8('table_seated' = 1, 'order_placed' = 2, 'order_completed' = 3, 'payment' = 4)",
       {kEventType}},
      {"ts", "DateTime64(3, 'UTC')", {kTs}},
      {"restaurant_id", "String", {kRestaurantId}},
      {"restaurant_name", "String", {kRestaurantName}},
      {"table_id", "String", {kTableId}},
      {"order_id", "String", {kOrderId}},
      {"server_id", "String", {kServerId}},
      {"party_size", "UInt16", {kPartySize}},
      {"items",
       "Array(Tuple(item_id String, item_name String, category String, quantity UInt32, "
       "price Decimal(12, 2)))",
       {kItemsOffsets, kItemId, kItemName, kItemCategory, kItemQuantity, kItemPrice}},
      {"subtotal", "Decimal(12, 2)", {kSubtotal}},
      {"tax", "Decimal(12, 2)", {kTax}},
      {"tip", "Decimal(12, 2)", {kTip}},
      {"total_amount", "Decimal(12, 2)", {kTotal}},
      {"payment_method", "String", {kPaymentMethod}},
      {"kitchen_time_minutes", "Nullable(Float64)", {kKitchenNull, kKitchen}},
      {"content_hash", "UInt64", {kContentHash}},
      {"source_id", "String", {kSourceId}},
      {"source_offset", "UInt64", {kSourceOffset}},
  };
  return kColumns;
}

std::string_view event_row_columns() {
  static const std::string kList = [] {
    std::string list = "(";
    for (const auto& column : EventBlock::event_block_columns()) {
      if (list.size() > 1) list += ", ";
      list += column.name;
    }
    return list + ")";
  }();
  return kList;
}

void EventBlock::add(const Event& event, uint64_t content_hash, const RowOrigin& origin) {
  put_string(columns_[kEventId], event.event_id);
  put(columns_[kEventType], static_cast<int8_t>(event.type));  // Enum8 values = EventType's
  put(columns_[kTs], event.ts_ms);                             // DateTime64(3): milliseconds
  put_string(columns_[kRestaurantId], event.restaurant_id);
  put_string(columns_[kRestaurantName], event.restaurant_name);
  put_string(columns_[kTableId], event.table_id);
  put_string(columns_[kOrderId], event.order_id);
  put_string(columns_[kServerId], event.server_id);
  put(columns_[kPartySize], event.party_size);
  for (const auto& item : event.items) {
    put_string(columns_[kItemId], item.item_id);
    put_string(columns_[kItemName], item.item_name);
    put_string(columns_[kItemCategory], item.category);
    put(columns_[kItemQuantity], item.quantity);
    put(columns_[kItemPrice], item.price_cents);  // Decimal(12, 2): an Int64 of cents
  }
  items_ += event.items.size();
  put(columns_[kItemsOffsets], items_);  // an array column is its end offsets, then its items
  put(columns_[kSubtotal], event.subtotal_cents);
  put(columns_[kTax], event.tax_cents);
  put(columns_[kTip], event.tip_cents);
  put(columns_[kTotal], event.total_cents);
  put_string(columns_[kPaymentMethod], event.payment_method);
  // Nullable: a null map, then a value for every row (0 under a null).
  put(columns_[kKitchenNull], static_cast<uint8_t>(event.kitchen_time_minutes ? 0 : 1));
  put(columns_[kKitchen], event.kitchen_time_minutes.value_or(0.0));
  put(columns_[kContentHash], content_hash);
  put_string(columns_[kSourceId], origin.source_id);
  put(columns_[kSourceOffset], origin.offset);
  ++rows_;
}

std::string EventBlock::finish() {
  size_t size = 16;
  for (const auto& column : columns_) size += column.size();
  std::string out;
  out.reserve(size + 1024);
  put_varint(out, event_block_columns().size());
  put_varint(out, rows_);
  for (const auto& header : event_block_columns()) {
    put_string(out, header.name);
    put_string(out, header.type);
    for (Column column : header.data) {
      out += columns_[column];
      columns_[column].clear();
    }
  }
  rows_ = 0;
  items_ = 0;
  return out;
}

}  // namespace tp::ingest
