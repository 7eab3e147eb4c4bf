#include "server/prometheus.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace tp::server {
namespace {

// Upper bounds (ms) of the query latency buckets: from a cached lookup to a cold scan.
const std::vector<double>& query_bounds() {
  static const std::vector<double> kBounds = {1,   2.5, 5,    10,   25,   50,    100,
                                              250, 500, 1000, 2500, 5000, 10000, 30000};
  return kBounds;
}

// A number as Prometheus writes it: integers without a fraction, +Inf spelled out.
std::string number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<int64_t>(value));
  }
  return fmt::format("{}", value);
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void histogram(std::string& out, std::string_view name, std::string_view labels,
               const LatencyHistogram::Snapshot& h) {
  std::string sep = labels.empty() ? "" : ",";
  for (const auto& [bound, count] : h.buckets) {
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, number(bound), count);
  }
  std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  out += fmt::format("{}_sum{} {}\n", name, braces, number(h.sum));
  out += fmt::format("{}_count{} {}\n", name, braces, h.count);
}

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(query_bounds().size() + 1, 0) {}

void LatencyHistogram::observe(double ms) {
  const auto& bounds = query_bounds();
  size_t i = 0;
  while (i < bounds.size() && ms > bounds[i]) ++i;
  std::lock_guard lock(mutex_);
  ++counts_[i];
  sum_ += ms;
  ++count_;
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  const auto& bounds = query_bounds();
  Snapshot out;
  std::lock_guard lock(mutex_);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += counts_[i];
    out.buckets.emplace_back(bounds[i], cumulative);
  }
  out.buckets.emplace_back(std::numeric_limits<double>::infinity(), count_);
  out.sum = sum_;
  out.count = count_;
  return out;
}

void QueryLatencies::observe(std::string_view endpoint, double ms) {
  std::lock_guard lock(mutex_);
  auto it = histograms_.find(endpoint);
  if (it == histograms_.end()) {
    it = histograms_.try_emplace(std::string(endpoint)).first;
  }
  it->second.observe(ms);  // LatencyHistogram has its own lock; map entries never move
}

std::map<std::string, LatencyHistogram::Snapshot> QueryLatencies::snapshot() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, LatencyHistogram::Snapshot> out;
  for (const auto& [name, h] : histograms_) out.emplace(name, h.snapshot());
  return out;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string render_prometheus(const ingest::IngestStats& stats, const QueryLatencies& latencies,
                              size_t stream_clients, size_t broken_parts) {
  std::string out;
  auto counter = [&](std::string_view name, std::string_view help, uint64_t value) {
    header(out, name, "counter", help);
    out += fmt::format("{} {}\n", name, value);
  };
  auto gauge = [&](std::string_view name, std::string_view help, double value) {
    header(out, name, "gauge", help);
    out += fmt::format("{} {}\n", name, number(value));
  };

  counter("tablepulse_events_read_total",
          "Non-blank lines read by the consumer, committed or not (its read rate).",
          stats.lines_read.load());
  // The registry's counters (ingest/counters.h); `rejected` is exported by reason below.
#define TP_EXPORT(field, dq_name, prometheus_name, help) \
  if (std::string_view(prometheus_name).size() > 0) counter(prometheus_name, help, stats.field.load());
  TP_BATCH_COUNTERS(TP_EXPORT)
#undef TP_EXPORT
  counter("tablepulse_dead_letters_dropped_total",
          "Refused lines not written to the dead-letter file: it was at --dlq-max-bytes.",
          stats.dead_letters_dropped.load());
  counter("tablepulse_batches_total", "Batches committed.", stats.batches.load());
  counter("tablepulse_insert_failures_total",
          "Failed database attempts of the consumer (inserts, match steps, checkpoints), "
          "permanent failures included.",
          stats.insert_failures.load());
  counter("tablepulse_database_retries_total",
          "Failed database attempts the consumer tried again (transient failures).",
          stats.database_retries.load());

  std::map<std::string, uint64_t> reasons;
  LatencyHistogram::Snapshot inserts;
  int retrying = 0;
  int64_t failing_since_ms = 0, last_error_ms = 0;
  std::string last_error;
  int last_clickhouse_code = 0;
  {
    std::lock_guard lock(stats.mutex);
    reasons = stats.rejected_by_reason;
    retrying = stats.database_retrying;
    failing_since_ms = stats.database_failing_since_ms;
    last_error = stats.last_database_error;
    last_clickhouse_code = stats.last_database_clickhouse_code;
    last_error_ms = stats.last_database_error_ms;
    for (const auto& [bound, count] : stats.insert_latency_buckets) {
      if (!std::isinf(bound)) inserts.buckets.emplace_back(bound, count);
    }
    inserts.sum = stats.insert_latency_sum_ms;
    inserts.count = stats.insert_latency_count;
  }
  inserts.buckets.emplace_back(std::numeric_limits<double>::infinity(), inserts.count);

  header(out, "tablepulse_events_rejected_total", "counter", "Lines refused, by reason code.");
  if (reasons.empty()) {
    out += fmt::format("tablepulse_events_rejected_total {}\n", stats.rejected.load());
  }
  for (const auto& [reason, count] : reasons) {
    out += fmt::format("tablepulse_events_rejected_total{{reason=\"{}\"}} {}\n",
                       escape_label_value(reason), count);
  }

  header(out, "tablepulse_insert_latency_ms", "histogram",
         "Time to insert one batch into ClickHouse, in milliseconds.");
  histogram(out, "tablepulse_insert_latency_ms", "", inserts);

  gauge("tablepulse_consumer_lag_ms",
        "Delay between reading the oldest line of the last batch and committing it.",
        static_cast<double>(stats.lag_ms.load()));
  gauge("tablepulse_consumer_running", "1 while the consumer runs in this process.",
        stats.running.load() ? 1 : 0);
  int64_t last_commit = stats.last_commit_ms.load();
  gauge("tablepulse_last_commit_timestamp_seconds",
        "Wall-clock time of the last committed batch (0: none yet).",
        static_cast<double>(last_commit) / 1000.0);
  gauge("tablepulse_database_retrying",
        "Consumer operations waiting to try the database again (0: the database answers).",
        retrying);
  gauge("tablepulse_database_unavailable_since_timestamp_seconds",
        "Wall-clock time of the first failure of the outage the consumer is riding out (0: none).",
        static_cast<double>(failing_since_ms) / 1000.0);
  header(out, "tablepulse_database_last_error_timestamp_seconds", "gauge",
         "Wall-clock time of the consumer's last failed database attempt, by its error code and "
         "ClickHouse code (absent: no failure yet).");
  if (last_error_ms != 0) {
    out += fmt::format(
        "tablepulse_database_last_error_timestamp_seconds{{code=\"{}\",clickhouse_code=\"{}\"}} "
        "{}\n",
        escape_label_value(last_error), last_clickhouse_code,
        number(static_cast<double>(last_error_ms) / 1000.0));
  }

  std::string kafka_topic;
  std::map<int32_t, ingest::IngestStats::KafkaPartition> kafka_partitions;
  bool kafka_paused = false;
  {
    std::lock_guard lock(stats.mutex);
    kafka_topic = stats.kafka_topic;
    kafka_partitions = stats.kafka_partitions;
    kafka_paused = stats.kafka_paused;
  }
  if (!kafka_topic.empty()) {
    // Per owned partition: what is checkpointed, where the partition ends, the difference.
    auto per_partition = [&](std::string_view name, std::string_view help, auto value) {
      header(out, name, "gauge", help);
      for (const auto& [partition, state] : kafka_partitions) {
        const int64_t v = value(state);
        if (v < 0) continue;
        out += fmt::format("{}{{topic=\"{}\",partition=\"{}\"}} {}\n", name,
                           escape_label_value(kafka_topic), partition, v);
      }
    };
    per_partition("tablepulse_kafka_committed_offset",
                  "First offset of the partition not checkpointed in ClickHouse yet.",
                  [](const auto& p) { return p.committed; });
    per_partition("tablepulse_kafka_high_watermark", "The partition's end offset as last fetched.",
                  [](const auto& p) { return p.high_watermark; });
    per_partition("tablepulse_kafka_lag_messages",
                  "Messages of the partition not checkpointed yet (high watermark - committed).",
                  [](const auto& p) {
                    return p.high_watermark < 0
                               ? int64_t{-1}
                               : p.high_watermark - std::max<int64_t>(p.committed, 0);
                  });
    gauge("tablepulse_kafka_partitions", "Partitions of the topic this consumer owns.",
          static_cast<double>(kafka_partitions.size()));
    gauge("tablepulse_kafka_paused",
          "1 while fetching is paused because the database falls behind (backpressure).",
          kafka_paused ? 1 : 0);
  }

  header(out, "tablepulse_query_latency_ms", "histogram",
         "Time the server spent answering a metric query, by endpoint, in milliseconds.");
  for (const auto& [endpoint, h] : latencies.snapshot()) {
    histogram(out, "tablepulse_query_latency_ms",
              fmt::format("endpoint=\"{}\"", escape_label_value(endpoint)), h);
  }

  gauge("tablepulse_stream_clients", "Live pages connected to /api/v1/stream.",
        static_cast<double>(stream_clients));
  gauge("tablepulse_broken_parts",
        "Parts the engine set aside as unreadable, served without them (--allow-broken-parts).",
        static_cast<double>(broken_parts));
  return out;
}

}  // namespace tp::server
