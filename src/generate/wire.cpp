#include "generate/wire.h"

#include <cstring>
#include <iterator>

#include "common/time.h"

namespace tp::generate {
namespace {

void append(fmt::memory_buffer& out, std::string_view text) {
  out.append(text.data(), text.data() + text.size());
}

void append_int(fmt::memory_buffer& out, int64_t value) {
  fmt::format_int text(value);
  out.append(text.data(), text.data() + text.size());
}

// Appends `value` zero-padded to `width` digits.
void append_padded(fmt::memory_buffer& out, int64_t value, int width) {
  fmt::format_int text(value);
  for (int i = static_cast<int>(text.size()); i < width; ++i) out.push_back('0');
  out.append(text.data(), text.data() + text.size());
}

// Appends money in cents as a JSON number with at most 2 decimals ("35.5", "6", "3.25").
void append_money(fmt::memory_buffer& out, int64_t cents) {
  if (cents < 0) {
    out.push_back('-');
    cents = -cents;
  }
  append_int(out, cents / 100);
  const int rest = static_cast<int>(cents % 100);
  if (rest == 0) return;
  out.push_back('.');
  out.push_back(static_cast<char>('0' + rest / 10));
  if (rest % 10 != 0) out.push_back(static_cast<char>('0' + rest % 10));
}

// Appends a name escaped for a JSON string (names are fixed, but a future one may hold a quote).
void append_escaped(fmt::memory_buffer& out, std::string_view text) {
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<int>(c));
    } else {
      out.push_back(c);
    }
  }
}

void append_server_id(fmt::memory_buffer& out, const Restaurant& r, int32_t server) {
  append(out, ",\"server_id\":\"s-");
  append(out, r.number);
  out.push_back('-');
  append_padded(out, server + 1, 2);
  out.push_back('"');
}

void append_order_id(fmt::memory_buffer& out, const Restaurant& r, int64_t seq) {
  append(out, ",\"order_id\":\"o-");
  append(out, r.number);
  out.push_back('-');
  append_padded(out, seq, 6);
  out.push_back('"');
}

}  // namespace

RestaurantKeys restaurant_keys(bool location_fields) {
  if (location_fields) return {"location_id", "location_name"};
  return {"restaurant_id", "restaurant_name"};
}

void make_uuid(uint64_t hi, uint64_t lo, SimEvent& ev) {
  static constexpr char kHex[] = "0123456789abcdef";
  hi = (hi & ~0xf000ULL) | 0x4000ULL;                         // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10xx
  int pos = 0;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) ev.id[pos++] = '-';
    const uint64_t word = i < 16 ? hi : lo;
    const int shift = 60 - 4 * (i % 16);
    ev.id[pos++] = kHex[(word >> shift) & 0xf];
  }
  ev.id_size = 36;
}

void make_opaque_id(uint64_t hi, uint64_t lo, SimEvent& ev) {
  static constexpr char kBase36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::memcpy(ev.id, "evt_", 4);
  int pos = 4;
  for (uint64_t word : {hi, lo}) {
    for (int i = 0; i < 10; ++i) {
      ev.id[pos++] = kBase36[word % 36];
      word /= 36;
    }
  }
  ev.id_size = static_cast<uint8_t>(pos);
}

void choose_spelling(Rng& ids, double naive_rate, double opaque_id_rate, SimEvent& ev) {
  ev.naive = ids.chance(naive_rate);
  const bool opaque_id = ids.chance(opaque_id_rate);
  const uint64_t hi = ids.next();
  const uint64_t lo = ids.next();
  if (opaque_id) {
    make_opaque_id(hi, lo, ev);
  } else {
    make_uuid(hi, lo, ev);
  }
}

Wire::Wire(bool location_fields) : location_fields_(location_fields) {
  for (size_t i = 0; i < kMenuSize; ++i) {
    const MenuItem& item = kMenu[i];
    // The constant part of an item's JSON object, up to the quantity (the brief's order).
    fmt::memory_buffer head;
    append(head, "{\"item_id\":\"");
    append(head, item.id);
    append(head, "\",\"item_name\":\"");
    append_escaped(head, item.name);
    append(head, "\",\"category\":\"");
    append(head, kCategoryNames[item.category]);
    append(head, "\",\"price\":");
    append_money(head, item.price_cents);
    append(head, ",\"quantity\":");
    item_head_[i] = fmt::to_string(head);
  }
}

// "2026-11-24T18:03:12.345Z", or without a zone "2026-11-24T18:03:12.345000" (Python's
// isoformat() of UTC wall time); the date part comes from tp::format_iso_ms once per day.
void Wire::append_timestamp(fmt::memory_buffer& out, int64_t ms, bool naive) {
  const int64_t day = ms >= 0 ? ms / kDay : -((-ms + kDay - 1) / kDay);
  if (day != cached_day_) {
    cached_day_ = day;
    const std::string text = format_iso_ms(day * kDay);
    std::memcpy(cached_date_, text.data(), 11);  // "YYYY-MM-DDT"
  }
  int64_t rest = ms - day * kDay;
  char time[13] = {'0', '0', ':', '0', '0', ':', '0', '0', '.', '0', '0', '0', 'Z'};
  const int64_t hours = rest / kHour;
  const int64_t minutes = rest / kMinute % 60;
  const int64_t seconds = rest / kSecond % 60;
  const int64_t millis = rest % 1000;
  time[0] = static_cast<char>('0' + hours / 10);
  time[1] = static_cast<char>('0' + hours % 10);
  time[3] = static_cast<char>('0' + minutes / 10);
  time[4] = static_cast<char>('0' + minutes % 10);
  time[6] = static_cast<char>('0' + seconds / 10);
  time[7] = static_cast<char>('0' + seconds % 10);
  time[9] = static_cast<char>('0' + millis / 100);
  time[10] = static_cast<char>('0' + millis / 10 % 10);
  time[11] = static_cast<char>('0' + millis % 10);
  out.append(cached_date_, cached_date_ + 11);
  if (naive) {
    out.append(time, time + 12);
    append(out, "000");
  } else {
    out.append(time, time + 13);
  }
}

void Wire::write(const SimEvent& ev, int tweak, fmt::memory_buffer& out) {
  const Restaurant& r = *ev.restaurant;
  const RestaurantKeys key = keys();
  out.clear();
  append(out, "{\"event_id\":\"");
  out.append(ev.id, ev.id + ev.id_size);
  append(out, "\",\"event_type\":\"");
  append(out, event_type_name(ev.type));
  append(out, "\",\"timestamp\":\"");
  append_timestamp(out, ev.t, ev.naive);
  append(out, "\",\"");
  append(out, key.id);
  append(out, "\":\"");
  append(out, r.id);
  append(out, "\",\"");
  append(out, key.name);
  append(out, "\":\"");
  append_escaped(out, r.name);
  append(out, "\",\"table_id\":\"T");
  append_padded(out, ev.table + 1, r.table_width);
  out.push_back('"');
  switch (ev.type) {
    case EventType::kTableSeated:
      append(out, ",\"party_size\":");
      append_int(out, ev.party_size + (ev.party_size < 8 ? tweak : -tweak));
      append_server_id(out, r, ev.server);
      break;
    case EventType::kOrderPlaced: {
      const Items& order = *ev.items;
      append_server_id(out, r, ev.server);
      append_order_id(out, r, ev.order_seq);
      append(out, ",\"items\":[");
      for (uint8_t i = 0; i < order.lines; ++i) {
        if (i > 0) out.push_back(',');
        append(out, item_head_[order.item[i]]);
        append_int(out, order.qty[i] + (i == 0 ? tweak : 0));
        out.push_back('}');
      }
      append(out, "],\"subtotal\":");
      append_money(out, ev.subtotal + tweak * kMenu[order.item[0]].price_cents);
      break;
    }
    case EventType::kOrderCompleted: {
      append_order_id(out, r, ev.order_seq);
      append(out, ",\"kitchen_time_minutes\":");
      const int64_t tenths = ev.kitchen_tenths + tweak * 15;
      append_int(out, tenths / 10);
      out.push_back('.');
      out.push_back(static_cast<char>('0' + tenths % 10));
      break;
    }
    case EventType::kPayment:
      append_order_id(out, r, ev.order_seq);
      append(out, ",\"subtotal\":");
      append_money(out, ev.subtotal);
      append(out, ",\"tax\":");
      append_money(out, ev.tax);
      append(out, ",\"tip\":");
      append_money(out, ev.tip + tweak * 100);
      append(out, ",\"total_amount\":");
      append_money(out, ev.subtotal + ev.tax + ev.tip + tweak * 100);
      append(out, ",\"payment_method\":\"");
      append(out, ev.method);
      out.push_back('"');
      break;
  }
  out.push_back('}');
}

}  // namespace tp::generate
