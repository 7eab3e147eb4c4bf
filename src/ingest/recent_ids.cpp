#include "ingest/recent_ids.h"

#include <cstring>

#include "decode/decoder.h"

namespace tp::ingest {
namespace {

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t fmix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// MurmurHash3_x64_128 (Austin Appleby, public domain): 128 well-mixed bits of an opaque id.
IdKey murmur3_128(std::string_view data) {
  constexpr uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const size_t blocks = data.size() / 16;
  uint64_t h1 = 0x7461626c65707573ULL, h2 = h1;  // seed: "tablepus"
  for (size_t i = 0; i < blocks; ++i) {
    uint64_t k1, k2;
    std::memcpy(&k1, bytes + i * 16, 8);
    std::memcpy(&k2, bytes + i * 16 + 8, 8);
    k1 *= c1, k1 = rotl(k1, 31), k1 *= c2, h1 ^= k1;
    h1 = rotl(h1, 27), h1 += h2, h1 = h1 * 5 + 0x52dce729;
    k2 *= c2, k2 = rotl(k2, 33), k2 *= c1, h2 ^= k2;
    h2 = rotl(h2, 31), h2 += h1, h2 = h2 * 5 + 0x38495ab5;
  }
  const unsigned char* tail = bytes + blocks * 16;
  uint64_t k1 = 0, k2 = 0;
  switch (data.size() & 15) {
    case 15: k2 ^= uint64_t{tail[14]} << 48; [[fallthrough]];
    case 14: k2 ^= uint64_t{tail[13]} << 40; [[fallthrough]];
    case 13: k2 ^= uint64_t{tail[12]} << 32; [[fallthrough]];
    case 12: k2 ^= uint64_t{tail[11]} << 24; [[fallthrough]];
    case 11: k2 ^= uint64_t{tail[10]} << 16; [[fallthrough]];
    case 10: k2 ^= uint64_t{tail[9]} << 8; [[fallthrough]];
    case 9: k2 ^= uint64_t{tail[8]}; k2 *= c2, k2 = rotl(k2, 33), k2 *= c1, h2 ^= k2; [[fallthrough]];
    case 8: k1 ^= uint64_t{tail[7]} << 56; [[fallthrough]];
    case 7: k1 ^= uint64_t{tail[6]} << 48; [[fallthrough]];
    case 6: k1 ^= uint64_t{tail[5]} << 40; [[fallthrough]];
    case 5: k1 ^= uint64_t{tail[4]} << 32; [[fallthrough]];
    case 4: k1 ^= uint64_t{tail[3]} << 24; [[fallthrough]];
    case 3: k1 ^= uint64_t{tail[2]} << 16; [[fallthrough]];
    case 2: k1 ^= uint64_t{tail[1]} << 8; [[fallthrough]];
    case 1: k1 ^= uint64_t{tail[0]}; k1 *= c1, k1 = rotl(k1, 31), k1 *= c2, h1 ^= k1; break;
    default: break;
  }
  h1 ^= data.size(), h2 ^= data.size();
  h1 += h2, h2 += h1;
  h1 = fmix(h1), h2 = fmix(h2);
  h1 += h2, h2 += h1;
  return IdKey{h1, h2};
}

}  // namespace

IdKey id_key(std::string_view id) {
  if (!decode::is_uuid(id)) return murmur3_128(id);
  IdKey key;
  int nibbles = 0;
  for (char c : id) {
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
