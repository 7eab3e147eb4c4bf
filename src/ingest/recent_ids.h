#pragma once
// The event_ids this run has seen, bounded: the oldest are forgotten first (a forgotten id is
// still found in the database by the per-batch lookup).
#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace tp::ingest {

// An event_id in 16 bytes: a UUID's own 128 bits, or a 128-bit hash of any other id (a false
// duplicate needs two of the ≤ --dedup-memory ids in memory to collide: ~2^-87 for 2M ids).
struct IdKey {
  uint64_t high = 0;
  uint64_t low = 0;
  bool operator==(const IdKey&) const = default;
};

// The key of a decoded event_id (UUIDs in the decoder's canonical lower case).
IdKey id_key(std::string_view id);

struct IdKeyHash {
  size_t operator()(const IdKey& key) const { return key.high ^ (key.low * 0x9E3779B97F4A7C15ULL); }
};

class RecentIds {
 public:
  explicit RecentIds(size_t capacity) : capacity_(capacity) {}

  // The content hash remembered for `key`, if this run saw it.
  std::optional<uint64_t> find(const IdKey& key) const {
    auto it = hashes_.find(key);
    if (it == hashes_.end()) return std::nullopt;
    return it->second;
  }

  // Remembers `key`; forgets the oldest id when full.
  void insert(const IdKey& key, uint64_t content_hash) {
    if (capacity_ == 0) return;
    if (!hashes_.emplace(key, content_hash).second) return;
    if (order_.size() < capacity_) {
      order_.push_back(key);
      return;
    }
    hashes_.erase(order_[oldest_]);
    order_[oldest_] = key;
    oldest_ = (oldest_ + 1) % capacity_;
  }

  size_t size() const { return hashes_.size(); }

 private:
  size_t capacity_;
  // An open-addressing table: one id per ingested event makes this the consumer's hottest
  // lookup, and a node-based map spent most of it on cache misses and allocations (measured).
  absl::flat_hash_map<IdKey, uint64_t, IdKeyHash> hashes_;
  std::vector<IdKey> order_;  // insertion order, a ring once full: order_[oldest_] goes next
  size_t oldest_ = 0;
};

}  // namespace tp::ingest
