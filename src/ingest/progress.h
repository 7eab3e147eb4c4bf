#pragma once
// The progress line `ingest` keeps on a terminal's stderr: lines read, rate, and what became of
// them, redrawn at most once a second.
#include <chrono>

#include "ingest/stats.h"

namespace tp::ingest {

class ProgressLine {
 public:
  explicit ProgressLine(const IngestStats& stats) : stats_(stats) {}
  // Redraws the line if a second has passed since the last time (always when `final_line`,
  // which also ends it with a newline).
  void update(bool final_line);

 private:
  using Clock = std::chrono::steady_clock;
  const IngestStats& stats_;
  Clock::time_point started_ = Clock::now();
  Clock::time_point last_ = Clock::now();
};

}  // namespace tp::ingest
