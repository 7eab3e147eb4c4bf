#pragma once
// Why a line was refused: stable reason codes written to the dead-letter file and counted in
// summaries. Never rename a code (dashboards and alerts key on them); add new ones at the end.
#include <string_view>

namespace tp::decode {

#define TP_REJECT_REASONS(X)                                                               \
  X(kNotJson, "not_json", "the line is not valid JSON")                                    \
  X(kNotObject, "not_object", "the JSON value is not an object")                           \
  X(kLineTooLong, "line_too_long", "the line is longer than --max-line-bytes")             \
  X(kInvalidUtf8, "invalid_utf8", "the line is not valid UTF-8")                           \
  X(kMissingField, "missing_field", "a required field is absent (detail names it)")        \
  X(kWrongType, "wrong_type", "a field has the wrong JSON type (detail names it)")         \
  X(kUnknownEventType, "unknown_event_type", "event_type is not one of the four types")    \
  X(kInvalidEventId, "invalid_event_id", "event_id is empty or longer than 128 bytes")     \
  X(kInvalidTimestamp, "invalid_timestamp", "timestamp is not an ISO 8601 date and time")  \
  X(kOutOfRange, "out_of_range", "a value is outside its allowed range (detail says which)") \
  X(kEmptyItems, "empty_items", "an order_placed has no items")                            \
  X(kConflictingFields, "conflicting_fields",                                              \
    "two spellings of one field (restaurant_id and location_id) carry different values")   \
  X(kDuplicateKey, "duplicate_key", "an object names the same field twice")               \
  X(kExpired, "expired",                                                                   \
    "the event is older than the database's retention (migrate --ttl-days): its TTL "      \
    "would delete it")

enum class Reason {
#define TP_REASON_ENUM(name, code, what) name,
  TP_REJECT_REASONS(TP_REASON_ENUM)
#undef TP_REASON_ENUM
};

// The stable code of a reason ("missing_field").
std::string_view reason_code(Reason reason);
// One-line description of a reason, for docs and --help.
std::string_view reason_description(Reason reason);

}  // namespace tp::decode
