#pragma once
// The generator's random streams: splitmix64 to seed and mix, xoshiro256** to draw. Written out
// here (std distributions are not) so that a seed gives the same bytes on every platform.
#include <cmath>
#include <cstdint>

namespace tp::generate {

// splitmix64 step: seeds the generators and mixes option values into a seed.
inline uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A seed derived from `seed` and one option value (or stream tag).
inline uint64_t mix(uint64_t seed, uint64_t value) {
  uint64_t state = seed ^ (value * 0xd6e8feb86659fd93ULL);
  return splitmix(state);
}

// xoshiro256**: fast, and the same sequence on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& word : s_) word = splitmix(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool chance(double p) { return uniform() < p; }
  // Uniform integer in [lo, hi].
  int64_t range(int64_t lo, int64_t hi) {
    __extension__ using U128 = unsigned __int128;
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>((static_cast<U128>(next()) * span) >> 64);
  }
  // Standard normal (Box–Muller, one value per two draws).
  double normal() {
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  double exponential(double mean) { return -mean * std::log(1.0 - uniform()); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace tp::generate
