#pragma once
// Late detection, the spec's rule: an event is late when an event of the same restaurant that
// is more than 60 s later in event time arrived before it. The consumer keeps each restaurant's
// latest event time seen, seeded at start from what earlier runs committed.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "clickhouse/client.h"
#include "common/result.h"

namespace tp::ingest {

// The spec's "more than 60 s later".
inline constexpr int64_t kLateThresholdMs = 60'000;

// Each restaurant's latest event time among the rows earlier runs committed: rows stored before
// their source's last checkpoint (those a killed run stored after it are read again by this run,
// in order; counted against their own later neighbours first, each would be late).
Result<std::unordered_map<std::string, int64_t>> load_committed_high_water_marks(
    clickhouse::Client& client);

// The latest event time by restaurant, and the late events of a batch counted against it.
class LateDetector {
 public:
  // One batch's pass: counts its events in order, and becomes the detector's state only if the
  // batch commits (apply()); a failed attempt's pass is dropped and the retry counts again.
  class Pass {
   public:
    // Whether the event is late; then remembers its time.
    bool observe(const std::string& restaurant_id, int64_t ts_ms);

   private:
    friend class LateDetector;
    explicit Pass(const LateDetector& detector) : detector_(detector) {}
    const LateDetector& detector_;
    std::unordered_map<std::string, int64_t> updates_;
  };

  // Starts from these marks (replacing any state).
  void seed(std::unordered_map<std::string, int64_t> marks) { max_ts_ = std::move(marks); }
  // Raises marks to these where they are higher (a Kafka partition taken over from another
  // consumer brings its restaurants' committed marks).
  void merge(const std::unordered_map<std::string, int64_t>& marks) {
    for (const auto& [restaurant, ts] : marks) {
      auto [it, added] = max_ts_.emplace(restaurant, ts);
      if (!added && it->second < ts) it->second = ts;
    }
  }
  Pass begin() const { return Pass(*this); }
  void apply(const Pass& pass);
  // The restaurant's latest event time, if any was seen.
  std::optional<int64_t> high_water_mark(const std::string& restaurant_id) const;

 private:
  std::unordered_map<std::string, int64_t> max_ts_;
};

}  // namespace tp::ingest
