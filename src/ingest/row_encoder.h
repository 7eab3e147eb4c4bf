#pragma once
// Encodes validated events as rows of the events table (JSONEachRow, ClickHouse's own text
// format, parsed by the engine's fast JSON reader).
#include <cstdint>
#include <string>
#include <string_view>

#include "decode/event.h"

namespace tp::ingest {

// Where a row came from: lets a resumed run recognise rows its crashed predecessor stored.
struct RowOrigin {
  std::string_view source_id;
  uint64_t offset = 0;
};

// Appends one JSONEachRow line (with newline) for `event` to `out`.
void append_event_row(std::string& out, const Event& event, uint64_t content_hash,
                      const RowOrigin& origin);

// Appends `value` as a JSON string literal (quotes included) to `out`.
void append_json_string(std::string& out, std::string_view value);

// Cents as a decimal literal: 1234 -> "12.34".
std::string cents_to_decimal(int64_t cents);

// The columns append_event_row writes, for INSERT INTO events (...).
std::string_view event_row_columns();

}  // namespace tp::ingest
