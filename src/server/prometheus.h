#pragma once
// The /metrics page in Prometheus text format (version 0.0.4), written by hand: a handful of
// counters and histograms do not justify another library.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/stats.h"

namespace tp::server {

// Latencies of one kind of request, in fixed buckets (ms); thread-safe.
class LatencyHistogram {
 public:
  LatencyHistogram();
  void observe(double ms);

  // Cumulative counts per upper bound (the last bound is +Inf), the sum and the count.
  struct Snapshot {
    std::vector<std::pair<double, uint64_t>> buckets;
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Query latencies by endpoint ("revenue", "restaurants", "stream", …); thread-safe.
class QueryLatencies {
 public:
  void observe(std::string_view endpoint, double ms);
  std::map<std::string, LatencyHistogram::Snapshot> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, LatencyHistogram, std::less<>> histograms_;
};

// The whole /metrics text: the consumer's counters, its insert latency histogram and lag, the
// server's query latency histograms, the number of live-page subscribers and of the parts the
// engine set aside as unreadable.
std::string render_prometheus(const ingest::IngestStats& stats, const QueryLatencies& latencies,
                              size_t stream_clients, size_t broken_parts);

// A label value escaped as the text format wants (\\, \", \n).
std::string escape_label_value(std::string_view value);

}  // namespace tp::server
