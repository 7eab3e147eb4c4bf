#include "ingest/recent_ids.h"

namespace tp::ingest {

IdKey id_key(std::string_view uuid) {
  IdKey key;
  int nibbles = 0;
  for (char c : uuid) {
    if (c == '-') continue;
    uint64_t value = (c >= '0' && c <= '9') ? static_cast<uint64_t>(c - '0')
                                            : static_cast<uint64_t>((c | 0x20) - 'a' + 10);
    if (nibbles < 16) {
      key.high = (key.high << 4) | value;
    } else {
      key.low = (key.low << 4) | value;
    }
    ++nibbles;
  }
  return key;
}

}  // namespace tp::ingest
