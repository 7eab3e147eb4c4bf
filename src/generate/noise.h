#pragma once
// The noise a real feed has, laid over the simulated events: when an event is delivered late,
// redelivered byte for byte, redelivered with other content (a conflict), or followed by a line
// that must be refused, and what that refused line is. Its randomness is its own stream, so the
// noise rates change no valid event.
#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "decode/reasons.h"
#include "generate/event.h"
#include "generate/generator.h"
#include "generate/random.h"
#include "generate/wire.h"

namespace tp::generate {

// The kinds of refused line. Kinds below kBadPartySize corrupt an event of any type (the
// source's); the others need an event of the type malformation_type() names. Each kind writes
// one defect per line, so that the reason is not a matter of check order, and names the
// decode::Reason of that defect (some kinds have variants with different reasons).
enum class Malformation : uint8_t {
  kCutShort,              // not JSON: the line cut short (kNotJson)
  kGarbage,               // not JSON: something else on the wire (kNotJson)
  kNotAnObject,           // JSON, but not an object (kNotObject)
  kCommonFieldMissing,    // a field every event has is absent (kMissingField)
  kTypeFieldMissing,      // a field of the event's type is absent (kMissingField)
  kBadEventId,            // empty or over 128 bytes (kInvalidEventId), a number (kWrongType)
  kBadTimestamp,          // not an ISO 8601 date and time (kInvalidTimestamp)
  kUnknownType,           // event_type not one of the four (kUnknownEventType)
  kCommonFieldWrongType,  // a string field every event has, of another JSON type (kWrongType)
  kEmptyOrLongString,     // an empty or over-long restaurant or table field (kOutOfRange)
  kBothSpellings,         // restaurant_* and location_* disagree (kConflictingFields)
  kKeyTwice,              // a key given twice in one object (kDuplicateKey)
  kBadPartySize,          // table_seated: party_size out of range (kOutOfRange), a string
                          // (kWrongType), or server_id empty (kOutOfRange)
  kNegativePrice,         // order_placed: a negative unit price (kOutOfRange)
  kNoItems,               // order_placed: no items (kEmptyItems)
  kBrokenItem,            // order_placed: quantity 0 (kOutOfRange) or a string (kWrongType),
                          // item_name or price absent (kMissingField), items an object or the
                          // subtotal a string (kWrongType)
  kBadKitchenTime,        // order_completed: kitchen time negative (kOutOfRange) or a string
                          // (kWrongType), or order_id empty (kOutOfRange)
  kBadPayment,            // payment: negative money or a bad method (kOutOfRange), a string
                          // amount (kWrongType)
};
inline constexpr int kMalformationCount = static_cast<int>(Malformation::kBadPayment) + 1;

// The event type a malformation needs, or nullopt if it corrupts an event of any type.
std::optional<EventType> malformation_type(Malformation kind);

// A line that must be refused, and the reason code it must be refused with.
struct Malformed {
  std::string text;
  decode::Reason reason;
};

// What happens to one valid event on its way out. The delays count from its event time (late)
// or from when it was first written (the redeliveries).
struct Delivery {
  bool late = false;
  bool duplicate = false;
  bool conflict = false;
  bool malformed = false;  // a refused line follows it
  int64_t late_by_ms = 0;
  int64_t duplicate_after_ms = 0;
  int64_t conflict_after_ms = 0;
};

// The noise of one stream: GeneratorOptions' rates, max_late_ms, restaurants, location_fields,
// and a random stream of its own derived from the seed.
class Noise {
 public:
  explicit Noise(const GeneratorOptions& options);

  // Decides the fate of the next valid event. Always the same four chance draws whatever the
  // rates, so that the noise pattern does not depend on which branches are taken.
  Delivery decide();
  // A refused line modelled on `source` (same restaurant and time, a fresh event_id), of a
  // kind drawn at random; `wire` writes the event it starts from.
  Malformed malformed(const SimEvent& source, Wire& wire);
  // The same, of the given kind (its variant still drawn at random).
  Malformed malformed(const SimEvent& source, Malformation kind, Wire& wire);

 private:
  Malformed corrupt(SimEvent& ev, Malformation kind, Wire& wire);
  void synthesize(SimEvent& ev, EventType type);
  template <size_t N>
  std::string_view pick(const std::array<std::string_view, N>& choices) {
    return choices[static_cast<size_t>(rng_.range(0, N - 1))];
  }

  double late_rate_;
  double duplicate_rate_;
  double conflict_rate_;
  double malformed_rate_;
  int64_t max_late_ms_;
  int restaurants_;
  Rng rng_;            // late/duplicate/conflict/malformed decisions and malformed contents
  Items items_;        // a made-up order for a malformed line
  fmt::memory_buffer scratch_;
};

}  // namespace tp::generate
