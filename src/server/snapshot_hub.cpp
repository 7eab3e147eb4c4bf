#include "server/snapshot_hub.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/time.h"
#include "server/request.h"

namespace tp::server {
namespace {

using json = nlohmann::ordered_json;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

json error_json(const Error& error) {
  return {{"code", std::string(error_code_name(error.code))}, {"message", error.message}};
}

}  // namespace

double RateMeter::sample(int64_t at_ms, uint64_t count) {
  samples_.emplace_back(at_ms, count);
  while (samples_.size() > 2 && samples_.front().first < at_ms - span_ms_) samples_.pop_front();
  const auto& [first_ms, first_count] = samples_.front();
  if (at_ms <= first_ms || count < first_count) return 0;
  return static_cast<double>(count - first_count) * 1000.0 / static_cast<double>(at_ms - first_ms);
}

SnapshotHub::SnapshotHub(clickhouse::ClientFactory& factory, MetricsBackend backend,
                         std::shared_ptr<ingest::IngestStats> stats, QueryLatencies& latencies,
                         SnapshotTiming timing)
    : factory_(factory),
      backend_(std::move(backend)),
      stats_(stats ? std::move(stats) : std::make_shared<ingest::IngestStats>()),
      latencies_(latencies),
      timing_(timing) {}

SnapshotHub::~SnapshotHub() { stop(); }

void SnapshotHub::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void SnapshotHub::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<SnapshotHub::Subscription> SnapshotHub::subscribe(
    const std::string& restaurant_id) {
  auto subscription = std::make_shared<Subscription>();
  subscription->restaurant_id = restaurant_id;
  {
    std::lock_guard lock(mutex_);
    Channel& channel = channels_[restaurant_id];
    ++channel.subscribers;
    ++subscribers_;
  }
  changed_.notify_all();  // a new filter gets its first snapshot without waiting a tick
  return subscription;
}

void SnapshotHub::unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  std::lock_guard lock(mutex_);
  auto it = channels_.find(subscription->restaurant_id);
  if (it == channels_.end() || it->second.subscribers == 0) return;
  --subscribers_;
  if (--it->second.subscribers == 0) channels_.erase(it);
}

size_t SnapshotHub::subscriber_count() const {
  std::lock_guard lock(mutex_);
  return subscribers_;
}

std::shared_ptr<const std::string> SnapshotHub::next(Subscription& subscription,
                                                     std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::shared_ptr<const std::string> event;
  changed_.wait_for(lock, timeout, [&] {
    if (stopping_) return true;
    auto it = channels_.find(subscription.restaurant_id);
    if (it == channels_.end() || it->second.version <= subscription.seen_version) return false;
    subscription.seen_version = it->second.version;
    event = it->second.event;
    return true;
  });
  return event;
}

nlohmann::ordered_json broken_parts_json(const std::vector<clickhouse::BrokenPart>& parts) {
  auto list = nlohmann::ordered_json::array();
  for (const auto& part : parts) {
    list.push_back({{"table", part.table}, {"name", part.name}, {"reason", part.reason}});
  }
  return list;
}

void SnapshotHub::set_broken_parts(std::vector<clickhouse::BrokenPart> parts) {
  broken_parts_ = std::move(parts);
}

void SnapshotHub::note_query_error(const Error& error) {
  if (error.code != ErrorCode::kDataCorrupted) return;
  std::lock_guard lock(rate_mutex_);
  if (!data_error_) data_error_ = error;
}

std::optional<Error> SnapshotHub::data_error() {
  std::lock_guard lock(rate_mutex_);
  return data_error_;
}

void SnapshotHub::set_ingest_error(std::string message) {
  std::lock_guard lock(rate_mutex_);
  ingest_error_ = std::move(message);
}

std::string SnapshotHub::ingest_error() {
  std::lock_guard lock(rate_mutex_);
  return ingest_error_;
}

json SnapshotHub::ingest_json() {
  const auto& s = *stats_;
  int64_t failing_since = 0;
  {
    std::lock_guard lock(s.mutex);
    failing_since = s.database_failing_since_ms;
  }
  double rate = 0;
  std::string error;
  {
    std::lock_guard lock(rate_mutex_);
    rate = rate_.sample(steady_ms(), s.lines_read.load());
    error = ingest_error_;
  }
  int64_t last_commit = s.last_commit_ms.load();
  // The registry's counters of committed batches under their own names (ingest/counters.h).
  json out = s.counters().to_json();
  out.update({
      {"running", s.running.load()},
      {"lines_read", s.lines_read.load()},
      {"batches", s.batches.load()},
      {"stored_lines", s.stored_lines.load()},
      {"events_per_sec", std::round(rate * 10) / 10},
      {"lag_ms", s.lag_ms.load()},
      {"last_commit_at", last_commit > 0 ? json(format_iso_ms(last_commit)) : json(nullptr)},
      {"error", error.empty() ? json(nullptr) : json(error)},
      // The database outage the consumer is waiting out (null: none), and its retries so far.
      {"database_unavailable_since",
       failing_since > 0 ? json(format_iso_ms(failing_since)) : json(nullptr)},
      {"database_retries", s.database_retries.load()},
      {"dead_letters_dropped", s.dead_letters_dropped.load()},
  });
  // A Kafka source: how far behind the topic's end the checkpoints are (null: no Kafka).
  std::string topic;
  size_t partitions = 0;
  bool paused = false;
  {
    std::lock_guard lock(s.mutex);
    topic = s.kafka_topic;
    partitions = s.kafka_partitions.size();
    paused = s.kafka_paused;
  }
  out["kafka"] = topic.empty() ? json(nullptr)
                               : json{{"topic", topic},
                                      {"partitions", partitions},
                                      {"lag_messages", s.kafka_lag()},
                                      {"paused", paused}};
  return out;
}

json SnapshotHub::compute(clickhouse::Client& client, const std::string& restaurant_id) {
  int64_t as_of = now_ms();
  // The consumer's counters before the panels' queries: every line they count as stored is in
  // the panels (read after, a batch inserted meanwhile would be counted and not shown).
  json ingest = ingest_json();
  json panels = json::object();
  json error = nullptr;
  auto started = std::chrono::steady_clock::now();
  for (const auto& endpoint : metric_endpoints()) {
    query::MetricRequest request;
    request.metric = endpoint.metric;
    request.as_of_ms = as_of;
    if (!restaurant_id.empty()) request.restaurant_id = restaurant_id;
    auto result = backend_.run_metric(client, request);
    if (!result.ok()) {
      note_query_error(result.error());
      error = error_json(result.error());
      break;
    }
    panels[std::string(endpoint.name)] = std::move(result.value());
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  latencies_.observe("stream", ms);
  spdlog::debug("live snapshot{}: {:.0f} ms", restaurant_id.empty() ? "" : " of " + restaurant_id,
                ms);
  json snapshot = {
      {"as_of", format_iso_ms(as_of)},
      {"generated_at", format_iso_ms(now_ms())},
      {"restaurant_id", restaurant_id.empty() ? json(nullptr) : json(restaurant_id)},
      {"panels", std::move(panels)},
      {"ingest", std::move(ingest)},
  };
  if (!error.is_null()) snapshot["error"] = std::move(error);
  return snapshot;
}

void SnapshotHub::run() {
  std::unique_ptr<clickhouse::Client> client;  // this thread's own session
  int64_t last_connect_attempt = 0;
  // How long the last round of snapshots took: news waits at least twice that from the start
  // of the last one, so that the thread computes at most half the time (a large database or
  // many filters slow the page's updates rather than take a core).
  int64_t round_ms = 0;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Which filters are due: new ones, heartbeats, and those behind the batch counter.
    int64_t now = steady_ms();
    // A snapshot after each insert (revenue, funnel, top items) and each checkpoint (the rest).
    uint64_t batches = stats_->batches.load() + stats_->stored_batches.load();
    std::vector<std::string> due;
    int64_t wait_ms = timing_.poll_ms;
    const int64_t news_interval_ms = std::max(timing_.min_interval_ms, 2 * round_ms);
    for (auto& [filter, channel] : channels_) {
      int64_t since = now - channel.last_ms;
      bool heartbeat = channel.version == 0 || since >= timing_.heartbeat_ms;
      bool news = batches != channel.last_batches && since >= news_interval_ms;
      if (heartbeat || news) due.push_back(filter);
    }
    if (due.empty()) {
      changed_.wait_for(lock, std::chrono::milliseconds(wait_ms));
      continue;
    }
    lock.unlock();

    std::vector<std::pair<std::string, std::shared_ptr<const std::string>>> results;
    if (!client && steady_ms() - last_connect_attempt >= 1000) {
      last_connect_attempt = steady_ms();
      auto connected = factory_.connect();
      if (connected.ok()) {
        client = std::move(connected.value());
      } else {
        spdlog::warn("live snapshots: cannot connect to ClickHouse: {}",
                     connected.error().to_string());
      }
    }
    for (const auto& filter : due) {
      json snapshot;
      if (client) {
        try {
          snapshot = compute(*client, filter);
        } catch (const std::exception& e) {
          // A bug in a metric must not end the live page for everyone: report it in-band.
          spdlog::error("live snapshot failed: {}", e.what());
          snapshot = {{"as_of", format_iso_ms(now_ms())},
                      {"generated_at", format_iso_ms(now_ms())},
                      {"panels", json::object()},
                      {"ingest", ingest_json()},
                      {"error", {{"code", "internal"}, {"message", e.what()}}}};
        }
      } else {
        snapshot = {{"as_of", format_iso_ms(now_ms())},
                    {"generated_at", format_iso_ms(now_ms())},
                    {"panels", json::object()},
                    {"ingest", ingest_json()},
                    {"error", {{"code", "unavailable"}, {"message", "ClickHouse is unreachable"}}}};
      }
      snapshot["broken_parts"] = broken_parts_json(broken_parts_);
      auto text = std::make_shared<const std::string>(
          "event: snapshot\ndata: " +
          snapshot.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n");
      results.emplace_back(filter, std::move(text));
    }

    lock.lock();
    round_ms = steady_ms() - now;
    for (auto& [filter, text] : results) {
      auto it = channels_.find(filter);
      if (it == channels_.end()) continue;  // its last page left meanwhile
      it->second.event = std::move(text);
      ++it->second.version;
      it->second.last_ms = now;  // when this one began: one per min_interval_ms, start to start
      it->second.last_batches = batches;
    }
    changed_.notify_all();
  }
}

}  // namespace tp::server
