#pragma once
// Strict decoding of one JSON line into an Event (simdjson), or a reason it was refused.
#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

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
  uint64_t content_hash = 0;  // of the normalised event: equal for exact redeliveries
  bool subtotal_mismatch = false;  // order_placed: subtotal differs from Σ items by > 0.01
  bool total_mismatch = false;     // payment: total differs from subtotal+tax+tip by > 0.01
};

// Reuses its parser and buffers across lines: create one per thread.
class Decoder {
 public:
  explicit Decoder(size_t max_line_bytes = 1 << 20) : max_line_bytes_(max_line_bytes) {}

  // Decodes one non-blank line (without its newline).
  std::variant<Decoded, Rejection> decode(std::string_view line);

 private:
  size_t max_line_bytes_;
  simdjson::dom::parser parser_;
  simdjson::padded_string buffer_;
};

// FNV-1a 64: a hash that is stable across builds and machines (it is stored in the database).
uint64_t stable_hash(std::string_view data, uint64_t seed = 1469598103934665603ULL);

// True if `text` is a UUID (8-4-4-4-12 hex digits, any case).
bool is_uuid(std::string_view text);

}  // namespace tp::decode
