#pragma once
// The wire format: one typed event (SimEvent) as a JSON line in the exercise brief's format
// (docs/EVENTS.md: its field order, money with at most 2 decimals), in the spelling chosen for
// it: a UUID or an opaque "evt_" event_id, a timestamp with or without a zone, restaurant_* or
// location_* fields.
#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "generate/event.h"
#include "generate/random.h"

namespace tp::generate {

// The names of the restaurant fields in one spelling.
struct RestaurantKeys {
  std::string_view id;
  std::string_view name;
};

// restaurant_id/restaurant_name, or location_id/location_name when `location_fields`.
RestaurantKeys restaurant_keys(bool location_fields);

// Sets ev.id to a random (version 4, variant 1) UUID in lower case, from two random words.
void make_uuid(uint64_t hi, uint64_t lo, SimEvent& ev);
// Sets ev.id to "evt_" and 20 lower-case base-36 characters (10 per word): not a UUID.
void make_opaque_id(uint64_t hi, uint64_t lo, SimEvent& ev);

// Draws ev's event_id and spelling from `ids`: naive timestamp with `naive_rate`, opaque id
// with `opaque_id_rate`. Always four draws whatever the rates, so that a rate changes only the
// spelling of the events it picks, never the ids or spelling of the others.
void choose_spelling(Rng& ids, double naive_rate, double opaque_id_rate, SimEvent& ev);

// Writes events as JSON lines, the restaurant fields in one spelling for the whole stream.
class Wire {
 public:
  explicit Wire(bool location_fields);

  // Writes `ev` as one JSON line (no newline) into `out`, replacing its contents. tweak = 1
  // changes a value (a conflicting redelivery) while keeping the event consistent (subtotal and
  // total still add up).
  void write(const SimEvent& ev, int tweak, fmt::memory_buffer& out);

  // The restaurant fields' names in this stream, and in the spelling it does not use.
  RestaurantKeys keys() const { return restaurant_keys(location_fields_); }
  RestaurantKeys other_keys() const { return restaurant_keys(!location_fields_); }

 private:
  void append_timestamp(fmt::memory_buffer& out, int64_t ms, bool naive);

  bool location_fields_;
  std::array<std::string, kMenuSize> item_head_;  // an item's JSON up to its quantity
  int64_t cached_day_ = INT64_MIN;                // the day of cached_date_
  char cached_date_[11] = {};                     // "YYYY-MM-DDT"
};

}  // namespace tp::generate
