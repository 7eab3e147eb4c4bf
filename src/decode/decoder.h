#pragma once
// Strict decoding of one JSON line into an Event (simdjson On-Demand), or the reason it was
// refused. The contract is ../shared/spec/events.md: the brief's events exactly as written,
// and what real producers of them emit.
#include <absl/container/flat_hash_set.h>
#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/time.h"
#include "decode/event.h"
#include "decode/reasons.h"

namespace tp::decode {

// A refused line: the stable reason and a detail for people (which field, which value).
struct Rejection {
  Reason reason;
  std::string detail;
};

// A valid event and what the consumer needs to know about it beyond its fields.
struct Decoded {
  Event event;
  uint64_t content_hash = 0;       // of the normalised event: equal for exact redeliveries
  bool subtotal_mismatch = false;  // order_placed: subtotal differs from Σ items by > 0.01
  bool total_mismatch = false;     // payment: total differs from subtotal+tax+tip by > 0.01
  bool naive_timestamp = false;    // the timestamp named no zone: read in the default zone
};

// How lines are read; the defaults are the contract's.
struct DecoderOptions {
  size_t max_line_bytes = 1 << 20;  // longer lines are refused (line_too_long)
  TimeZone default_zone;            // zone-less timestamps are read in it (--default-timezone)
};

// A field's value as the line holds it, kept until the checks run in their fixed order.
struct RawValue {
  bool present = false;
  simdjson::ondemand::json_type type = simdjson::ondemand::json_type::null;
  std::string_view text;  // a string's content (unescaped), or a number's token
};

// One element of `items` as the line holds it.
struct RawItem {
  simdjson::ondemand::json_type type = simdjson::ondemand::json_type::object;
  RawValue item_id, item_name, category, price, quantity;
};

// Reuses its parser and buffers across lines: create one per thread.
class Decoder {
 public:
  explicit Decoder(DecoderOptions options = {});

  // Decodes one non-blank line (without its newline).
  std::variant<Decoded, Rejection> decode(std::string_view line);

 private:
  // The fields of one event object: the ones the contract names, each in a slot.
  struct RawEvent {
    RawValue event_id, event_type, timestamp, restaurant_id, restaurant_name, location_id,
        location_name, table_id, party_size, server_id, order_id, items, subtotal,
        kitchen_time_minutes, tax, tip, total_amount, payment_method;
  };

  DecoderOptions options_;
  simdjson::ondemand::parser parser_;
  simdjson::padded_string buffer_;
  RawEvent raw_;
  std::vector<RawItem> items_;
  // Keys outside the contract of the object being read, for duplicate_key (reused buffers).
  absl::flat_hash_set<std::string_view> keys_, item_keys_;
};

// FNV-1a 64: a hash that is stable across builds and machines (it is stored in the database).
uint64_t stable_hash(std::string_view data, uint64_t seed = 1469598103934665603ULL);

// True if `text` is a UUID (8-4-4-4-12 hex digits, any case).
bool is_uuid(std::string_view text);

// The exact value of a JSON number token: digits × 10^exponent (no float on the way).
struct JsonDecimal {
  bool negative = false;
  std::string_view int_digits;   // before the point, leading zeros included
  std::string_view frac_digits;  // after the point
  int64_t exponent = 0;          // of the e/E part, clamped to ±1,000,000
};

// Parses `token` by JSON's number grammar; nullopt if it is not a JSON number.
std::optional<JsonDecimal> parse_json_number(std::string_view token);

// A JSON number as an integer scaled by 10^scale, rounded half away from zero when
// `round` (money) or refused when not integral (counts).
struct ScaledInteger {
  enum class Status { kOk, kTooLarge, kNotIntegral } status = Status::kOk;
  int64_t value = 0;  // magnitude; the sign is JsonDecimal::negative
};
ScaledInteger scale_decimal(const JsonDecimal& number, int scale, bool round,
                            int64_t max_magnitude);

}  // namespace tp::decode
