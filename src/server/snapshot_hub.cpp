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

json SnapshotHub::compute(clickhouse::Client& client, const std::string& restaurant_id,
                          PanelCache* cache) {
  int64_t as_of = now_ms();
  // The consumer's counters before the panels' queries: every line they count as stored is in
  // the panels (read after, a batch inserted meanwhile would be counted and not shown).
  json ingest = ingest_json();
  // Then the batch counts (bumped before the counters, stats.h): a count equal to the one a
  // cached panel was computed after means no batch the counters include is missing from it.
  std::atomic_thread_fence(std::memory_order_acquire);
  const uint64_t stored_batches = stats_->stored_batches.load();
  const uint64_t checkpointed_batches = stats_->batches.load();
  const int64_t now = steady_ms();
  // Per moment: the cached group if nothing of it has news (and it is younger than the
  // heartbeat, for the sliding windows), else a group to fill now.
  auto next_group = [&](const PanelCache::Group* cached, uint64_t batches) {
    if (cached != nullptr && cached->computed_ms != INT64_MIN && cached->batches == batches &&
        now - cached->computed_ms < timing_.heartbeat_ms) {
      return *cached;
    }
    return PanelCache::Group{batches, now, json::object()};
  };
  PanelCache next{next_group(cache ? &cache->stored : nullptr, stored_batches),
                  next_group(cache ? &cache->checkpointed : nullptr, checkpointed_batches)};
  json panels = json::object();
  json error = nullptr;
  int queries = 0;
  auto started = std::chrono::steady_clock::now();
  for (const auto& endpoint : metric_endpoints()) {
    const std::string name(endpoint.name);
    PanelCache::Group& group = query::data_moment(endpoint.metric) == query::DataMoment::kStored
                                   ? next.stored
                                   : next.checkpointed;
    if (auto it = group.panels.find(name); it != group.panels.end()) {
      panels[name] = *it;
      continue;
    }
    query::MetricRequest request;
    request.metric = endpoint.metric;
    request.as_of_ms = as_of;
    if (!restaurant_id.empty()) request.restaurant_id = restaurant_id;
    auto result = backend_.run_metric(client, request);
    ++queries;
    if (!result.ok()) {
      note_query_error(result.error());
      error = error_json(result.error());
      break;
    }
    group.panels[name] = result.value();
    panels[name] = std::move(result.value());
  }
  // A failed snapshot leaves the cache as it was: the next one computes what failed again.
  if (cache != nullptr && error.is_null()) *cache = std::move(next);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (queries > 0) latencies_.observe("stream", ms);
  spdlog::debug("live snapshot{}: {} of {} panels in {:.0f} ms",
                restaurant_id.empty() ? "" : " of " + restaurant_id, queries,
                metric_endpoints().size(), ms);
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
  // How long a round of snapshots takes, on average (a quarter weight to the newest round, as
  // rounds after inserts alone compute half the panels): news waits at least twice that from
  // the start of the last one, so that the thread computes at most half the time (a large
  // database or many filters slow the page's updates rather than take a core).
  double round_ms = 0;
  std::map<std::string, PanelCache> caches;  // by filter: the panels of its last snapshot
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Which filters are due: new ones, heartbeats, and those behind the batch counter.
    int64_t now = steady_ms();
    // A snapshot after each insert (revenue, funnel, top items) and each checkpoint (the rest).
    uint64_t batches = stats_->batches.load() + stats_->stored_batches.load();
    std::vector<std::string> due;
    int64_t wait_ms = timing_.poll_ms;
    const int64_t news_interval_ms =
        std::max(timing_.min_interval_ms, static_cast<int64_t>(2 * round_ms));
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
    std::erase_if(caches, [&](const auto& entry) { return !channels_.contains(entry.first); });
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
          snapshot = compute(*client, filter, &caches[filter]);
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
    const auto round = static_cast<double>(steady_ms() - now);
    round_ms = round_ms == 0 ? round : 0.75 * round_ms + 0.25 * round;
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
