#include "source/kafka.h"

#include <fmt/format.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <set>

namespace tp::source {
namespace {

// Sets one property; a value "env:NAME" comes from the environment (never logged).
Status set_property(RdKafka::Conf& conf, const std::string& name, const std::string& value) {
  std::string resolved = value;
  if (value.rfind("env:", 0) == 0) {
    const char* from_env = std::getenv(value.c_str() + 4);
    if (from_env == nullptr) {
      return make_error(ErrorCode::kInvalidArgument,
                        "Kafka property {}: environment variable {} is not set", name,
                        value.substr(4));
    }
    resolved = from_env;
  }
  std::string problem;
  if (conf.set(name, resolved, problem) != RdKafka::Conf::CONF_OK) {
    return make_error(ErrorCode::kInvalidArgument, "Kafka property {}: {}", name, problem);
  }
  return {};
}

// Our defaults, then the user's properties (which win), with `events` taking librdkafka's
// log lines and errors.
Result<std::unique_ptr<RdKafka::Conf>> make_conf(
    const std::string& brokers, const std::vector<std::pair<std::string, std::string>>& defaults,
    const std::vector<std::pair<std::string, std::string>>& properties, RdKafka::EventCb* events) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string problem;
  if (conf->set("event_cb", events, problem) != RdKafka::Conf::CONF_OK) {
    return make_error(ErrorCode::kInternal, "Kafka configuration: {}", problem);
  }
  TP_RETURN_IF_ERROR(set_property(*conf, "bootstrap.servers", brokers));
  for (const auto& [name, value] : defaults) TP_RETURN_IF_ERROR(set_property(*conf, name, value));
  std::vector<std::string> names;
  for (const auto& [name, value] : properties) {
    TP_RETURN_IF_ERROR(set_property(*conf, name, value));
    names.push_back(name);
  }
  if (!names.empty()) spdlog::info("Kafka properties set: {}", fmt::join(names, ", "));
  return conf;
}

// Whether a broker's TLS alert in `why` (OpenSSL's "SSL alert number N") refuses this client's
// certificate: bad (42), unsupported (43), revoked (44), expired (45) or unknown (46)
// certificate, unknown CA (48), access denied (49), certificate required (116; RFC 8446
// §6.2). librdkafka reports those as a transport failure, which it would retry for ever.
bool broker_refused_client_certificate(const std::string& why) {
  constexpr std::string_view kAlert = "SSL alert number ";
  const size_t at = why.find(kAlert);
  if (at == std::string::npos) return false;
  const int alert = std::atoi(why.c_str() + at + kAlert.size());
  return (alert >= 42 && alert <= 46) || alert == 48 || alert == 49 || alert == 116;
}

// librdkafka's log lines and errors through spdlog (a broker that is down is a warning: the
// client reconnects by itself).
class LogEvents : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        note_auth_failure(event.err(), event.str());
        if (event.fatal()) {
          spdlog::error("Kafka: fatal: {}", event.str());
          fatal_.store(true);
        } else {
          spdlog::warn("Kafka: {} ({})", event.str(), RdKafka::err2str(event.err()));
        }
        break;
      case RdKafka::Event::EVENT_LOG:
        if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
          spdlog::warn("Kafka: {}: {}", event.fac(), event.str());
        } else {
          spdlog::debug("Kafka: {}: {}", event.fac(), event.str());
        }
        break;
      default:
        break;
    }
  }
  bool fatal() const { return fatal_.load(); }
  // Why a broker refused the credentials (SASL) or the TLS handshake failed (a broker
  // certificate not trusted, a client certificate refused), if so; librdkafka itself only
  // retries, so a start-up with wrong credentials would look like a broker that never answers.
  std::optional<std::string> auth_failure() const {
    std::lock_guard lock(mutex_);
    return auth_failure_;
  }
  void note_auth_failure(RdKafka::ErrorCode err, const std::string& why) {
    const char* what = err == RdKafka::ERR__AUTHENTICATION ? "refused the credentials"
                       : err == RdKafka::ERR__SSL          ? "failed the TLS handshake"
                       : err == RdKafka::ERR__TRANSPORT && broker_refused_client_certificate(why)
                           ? "refused this client's certificate in the TLS handshake"
                           : nullptr;
    if (what == nullptr) return;
    std::lock_guard lock(mutex_);
    if (!auth_failure_) auth_failure_ = fmt::format("{}: {}", what, why);
  }

 private:
  std::atomic<bool> fatal_{false};
  mutable std::mutex mutex_;
  std::optional<std::string> auth_failure_;  // guarded by mutex_
};

// Frees librdkafka's TopicPartition pointers when leaving a scope.
struct PartitionList {
  std::vector<RdKafka::TopicPartition*> items;
  ~PartitionList() { RdKafka::TopicPartition::destroy(items); }
};

}  // namespace

int64_t kafka_prefetch_kbytes(size_t batch_rows) {
  constexpr int64_t kLineBytes = 512;
  constexpr int64_t kLibraryMax = 2097151;  // the largest value librdkafka takes
  const int64_t wanted = static_cast<int64_t>(batch_rows) * 2 * kLineBytes / 1024;
  return std::clamp(wanted, kLibraryPrefetchKbytes, kLibraryMax);
}

std::string kafka_source_prefix(std::string_view topic) { return fmt::format("kafka:{}/", topic); }

std::string kafka_source_id(std::string_view topic, int32_t partition) {
  return fmt::format("{}{}", kafka_source_prefix(topic), partition);
}

std::optional<std::pair<std::string, int32_t>> parse_kafka_source_id(std::string_view id) {
  constexpr std::string_view kScheme = "kafka:";
  if (id.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  const size_t slash = id.rfind('/');
  if (slash == std::string_view::npos || slash < kScheme.size() || slash + 1 == id.size()) {
    return std::nullopt;
  }
  int32_t partition = 0;
  for (char c : id.substr(slash + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    partition = partition * 10 + (c - '0');
  }
  return std::make_pair(std::string(id.substr(kScheme.size(), slash - kScheme.size())), partition);
}

class KafkaSource::Impl : public RdKafka::RebalanceCb {
 public:
  Impl(const KafkaOptions& options, PartitionListener& listener)
      : options_(options), listener_(listener) {}

  Status open(std::chrono::milliseconds connect_timeout) {
    auto conf =
        make_conf(options_.brokers,
                  {
                      {"group.id", options_.group},
                      {"client.id", "tablepulse"},
                      // Offsets are ours to decide: committed after the checkpoint.
                      {"enable.auto.commit", "false"},
                      {"enable.auto.offset.store", "false"},
                      {"auto.offset.reset", "earliest"},
                      {"enable.partition.eof", "true"},
                      // Rebalances move only the partitions that change owner.
                      {"partition.assignment.strategy", "cooperative-sticky"},
                      // Transactional producers' aborted messages are not events.
                      {"isolation.level", "read_committed"},
                      // New partitions are found within 10 s.
                      {"topic.metadata.refresh.interval.ms", "10000"},
                      // The local prefetch, all partitions (bounds memory).
                      {"queued.max.messages.kbytes", std::to_string(options_.prefetch_kbytes)},
                  },
                  options_.properties, &events_);
    if (!conf.ok()) return conf.error();
    std::string problem;
    if (conf.value()->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this), problem) !=
        RdKafka::Conf::CONF_OK) {
      return make_error(ErrorCode::kInternal, "Kafka configuration: {}", problem);
    }
    for (const auto& [name, value] : options_.properties) {
      if (name == "auto.offset.reset") reset_to_latest_ = value == "latest" || value == "end";
    }
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.value().get(), problem));
    if (!consumer_) {
      return make_error(ErrorCode::kInvalidArgument, "Kafka consumer: {}", problem);
    }
    TP_RETURN_IF_ERROR(check_topic(connect_timeout));
    if (auto err = consumer_->subscribe({options_.topic}); err != RdKafka::ERR_NO_ERROR) {
      return make_error(ErrorCode::kUnavailable, "subscribing to {}: {}", options_.topic,
                        RdKafka::err2str(err));
    }
    spdlog::info("Kafka: consuming {} from {} as group {}", options_.topic, options_.brokers,
                 options_.group);
    return {};
  }

  // The topic exists and a broker answers, or a clear error now rather than silence later:
  // `auth_failed` at once if a broker refuses the credentials, `unavailable` after `timeout`.
  Status check_topic(std::chrono::milliseconds timeout) {
    std::string problem;
    std::unique_ptr<RdKafka::Topic> topic(
        RdKafka::Topic::create(consumer_.get(), options_.topic, nullptr, problem));
    if (!topic)
      return make_error(ErrorCode::kInvalidArgument, "topic {}: {}", options_.topic, problem);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_ptr<RdKafka::Metadata> metadata;
    while (true) {
      // A second at a time, serving the client's events in between (they carry the refusal).
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      RdKafka::Metadata* raw = nullptr;
      auto err = consumer_->metadata(false, topic.get(), &raw,
                                     static_cast<int>(std::clamp<int64_t>(left.count(), 1, 1000)));
      metadata.reset(raw);
      if (err == RdKafka::ERR_NO_ERROR) break;
      std::unique_ptr<RdKafka::Message> event(consumer_->consume(0));
      if (event) events_.note_auth_failure(event->err(), event->errstr());
      if (auto refused = events_.auth_failure()) {
        return make_error(ErrorCode::kAuth, "Kafka brokers {} {}", options_.brokers, *refused);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return make_error(ErrorCode::kUnavailable, "Kafka brokers {} did not answer: {}",
                          options_.brokers, RdKafka::err2str(err));
      }
    }
    for (const RdKafka::TopicMetadata* one : *metadata->topics()) {
      if (one->topic() == options_.topic && one->err() == RdKafka::ERR_NO_ERROR &&
          !one->partitions()->empty()) {
        return {};
      }
    }
    return make_error(ErrorCode::kNotFound, "Kafka topic {} does not exist on {}", options_.topic,
                      options_.brokers);
  }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    std::vector<int32_t> ids;
    for (auto* partition : partitions) ids.push_back(partition->partition());
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      on_assigned(*consumer, partitions, ids);
    } else {
      // Revoked (or lost): the listener commits their batches before they go.
      spdlog::info("Kafka: partitions {} of {} revoked{}", fmt::join(ids, ","), options_.topic,
                   consumer->assignment_lost() ? " (lost)" : "");
      listener_.revoked(ids);
      std::lock_guard lock(mutex_);
      for (int32_t id : ids) {
        assigned_.erase(id);
        caught_up_.erase(id);
        committed_.erase(id);
      }
      if (auto* error = consumer->incremental_unassign(partitions)) {
        failure_ = make_error(ErrorCode::kUnavailable, "Kafka unassign: {}", error->str());
        delete error;
      }
    }
  }

  void on_assigned(RdKafka::KafkaConsumer& consumer,
                   std::vector<RdKafka::TopicPartition*>& partitions,
                   const std::vector<int32_t>& ids) {
    auto starts = listener_.assigned(ids);
    if (!starts.ok()) {
      // Without its checkpoint a partition cannot be read exactly: end the run.
      failure_ = starts.error();
      return;
    }
    for (size_t i = 0; i < partitions.size(); ++i) {
      const auto& start = starts.value()[i];
      partitions[i]->set_offset(start              ? *start
                                : reset_to_latest_ ? RdKafka::Topic::OFFSET_END
                                                   : RdKafka::Topic::OFFSET_BEGINNING);
    }
    {
      std::lock_guard lock(mutex_);
      for (size_t i = 0; i < partitions.size(); ++i) {
        int64_t low = 0, high = -1;
        // The end offset to reach for --until-caught-up, as of now.
        if (options_.until_caught_up &&
            consumer.query_watermark_offsets(options_.topic, ids[i], &low, &high, 10000) !=
                RdKafka::ERR_NO_ERROR) {
          high = -1;
        }
        assigned_.insert(ids[i]);
        const auto& start = starts.value()[i];
        const int64_t from = start ? *start : reset_to_latest_ ? high : low;
        if (high >= 0 && from >= high) caught_up_.insert(ids[i]);
      }
      ever_assigned_ = true;
    }
    spdlog::info("Kafka: partitions {} of {} assigned", fmt::join(ids, ","), options_.topic);
    if (auto* error = consumer.incremental_assign(partitions)) {
      failure_ = make_error(ErrorCode::kUnavailable, "Kafka assign: {}", error->str());
      delete error;
      return;
    }
    if (paused_) consumer.pause(partitions);  // backpressure covers new partitions too
  }

  Result<std::optional<KafkaMessage>> poll(std::chrono::milliseconds timeout) {
    std::unique_ptr<RdKafka::Message> message(
        consumer_->consume(static_cast<int>(timeout.count())));
    if (!failure_.ok()) return failure_.error();
    if (events_.fatal()) {
      return make_error(ErrorCode::kUnavailable, "Kafka client failed (see the log above)");
    }
    switch (message->err()) {
      case RdKafka::ERR_NO_ERROR: {
        KafkaMessage out;
        out.partition = message->partition();
        out.offset = message->offset();
        if (message->payload() != nullptr) {
          out.payload.assign(static_cast<const char*>(message->payload()), message->len());
        }
        return std::optional<KafkaMessage>(std::move(out));
      }
      case RdKafka::ERR__PARTITION_EOF: {
        std::lock_guard lock(mutex_);
        if (assigned_.count(message->partition()) != 0) caught_up_.insert(message->partition());
        return std::optional<KafkaMessage>();
      }
      case RdKafka::ERR__TIMED_OUT:
        return std::optional<KafkaMessage>();
      default:
        // A broker away, a partition leader moving: the client recovers by itself.
        spdlog::warn("Kafka: {}", message->errstr());
        return std::optional<KafkaMessage>();
    }
  }

  void commit(int32_t partition, int64_t next_offset) {
    {
      std::lock_guard lock(mutex_);
      if (assigned_.count(partition) == 0) return;  // revoked meanwhile: its new owner commits
      committed_[partition] = next_offset;
    }
    PartitionList list;
    list.items.push_back(RdKafka::TopicPartition::create(options_.topic, partition, next_offset));
    if (auto err = consumer_->commitAsync(list.items); err != RdKafka::ERR_NO_ERROR) {
      spdlog::debug("Kafka: committing offset {} of partition {}: {}", next_offset, partition,
                    RdKafka::err2str(err));
    }
  }

  void set_paused(bool paused) {
    PartitionList list;
    if (consumer_->assignment(list.items) != RdKafka::ERR_NO_ERROR) return;
    paused_ = paused;
    if (paused) {
      consumer_->pause(list.items);
    } else {
      consumer_->resume(list.items);
    }
  }

  bool caught_up() {
    std::lock_guard lock(mutex_);
    return ever_assigned_ && caught_up_.size() == assigned_.size();
  }

  std::map<int32_t, int64_t> high_watermarks() {
    std::vector<int32_t> ids;
    {
      std::lock_guard lock(mutex_);
      ids.assign(assigned_.begin(), assigned_.end());
    }
    std::map<int32_t, int64_t> out;
    for (int32_t id : ids) {
      int64_t low = 0, high = -1;
      // Cached from the fetch responses: no broker round trip.
      if (consumer_->get_watermark_offsets(options_.topic, id, &low, &high) !=
          RdKafka::ERR_NO_ERROR) {
        high = -1;
      }
      out[id] = high;
    }
    return out;
  }

  void close() {
    PartitionList list;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, offset] : committed_) {
        list.items.push_back(RdKafka::TopicPartition::create(options_.topic, id, offset));
      }
    }
    if (!list.items.empty()) {
      if (auto err = consumer_->commitSync(list.items); err != RdKafka::ERR_NO_ERROR) {
        spdlog::warn(
            "Kafka: committing the last offsets: {} (the checkpoints in ClickHouse "
            "hold them)",
            RdKafka::err2str(err));
      }
    }
    consumer_->close();
  }

  const KafkaOptions& options() const { return options_; }
  bool paused() const { return paused_; }

 private:
  KafkaOptions options_;
  PartitionListener& listener_;
  LogEvents events_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  bool reset_to_latest_ = false;
  bool paused_ = false;
  Status failure_;    // set in a rebalance callback, returned by the next poll()
  std::mutex mutex_;  // the maps below: commit() runs on the checkpointing thread
  std::set<int32_t> assigned_;
  std::set<int32_t> caught_up_;
  std::map<int32_t, int64_t> committed_;
  bool ever_assigned_ = false;
};

Result<std::unique_ptr<KafkaSource>> KafkaSource::open(const KafkaOptions& options,
                                                       PartitionListener& listener,
                                                       std::chrono::milliseconds connect_timeout) {
  auto impl = std::make_unique<Impl>(options, listener);
  TP_RETURN_IF_ERROR(impl->open(connect_timeout));
  return std::unique_ptr<KafkaSource>(new KafkaSource(std::move(impl)));
}

KafkaSource::KafkaSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaSource::~KafkaSource() = default;

Result<std::optional<KafkaMessage>> KafkaSource::poll(std::chrono::milliseconds timeout) {
  return impl_->poll(timeout);
}
void KafkaSource::commit(int32_t partition, int64_t next_offset) {
  impl_->commit(partition, next_offset);
}
void KafkaSource::pause() { impl_->set_paused(true); }
void KafkaSource::resume() { impl_->set_paused(false); }
bool KafkaSource::paused() const { return impl_->paused(); }
bool KafkaSource::caught_up() const { return impl_->caught_up(); }
std::map<int32_t, int64_t> KafkaSource::high_watermarks() { return impl_->high_watermarks(); }
void KafkaSource::close() { impl_->close(); }
const KafkaOptions& KafkaSource::options() const { return impl_->options(); }

// ---------------------------------------------------------------------------------------------

class KafkaProducer::Impl : public RdKafka::DeliveryReportCb {
 public:
  Status open(const std::string& brokers,
              const std::vector<std::pair<std::string, std::string>>& properties) {
    auto conf = make_conf(brokers,
                          {
                              {"client.id", "tablepulse"},
                              // No duplicates or reordering from the producer's own retries.
                              {"enable.idempotence", "true"},
                              {"compression.type", "lz4"},
                              {"linger.ms", "20"},
                          },
                          properties, &events_);
    if (!conf.ok()) return conf.error();
    std::string problem;
    if (conf.value()->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), problem) !=
        RdKafka::Conf::CONF_OK) {
      return make_error(ErrorCode::kInternal, "Kafka configuration: {}", problem);
    }
    producer_.reset(RdKafka::Producer::create(conf.value().get(), problem));
    if (!producer_) return make_error(ErrorCode::kInvalidArgument, "Kafka producer: {}", problem);
    return {};
  }

  void dr_cb(RdKafka::Message& message) override {
    if (message.err() == RdKafka::ERR_NO_ERROR) {
      delivered_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::lock_guard lock(mutex_);
    if (failure_.ok()) {
      failure_ = make_error(ErrorCode::kUnavailable, "Kafka delivery failed: {}", message.errstr());
    }
  }

  Status produce(const std::string& topic, std::string_view key, std::string_view payload) {
    while (true) {
      if (events_.fatal()) {
        return make_error(ErrorCode::kUnavailable, "Kafka producer failed (see the log above)");
      }
      auto err =
          producer_->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                             const_cast<char*>(payload.data()), payload.size(),
                             key.empty() ? nullptr : key.data(), key.size(), 0, nullptr);
      if (err == RdKafka::ERR_NO_ERROR) break;
      if (err != RdKafka::ERR__QUEUE_FULL) {
        return make_error(ErrorCode::kUnavailable, "Kafka produce to {}: {}", topic,
                          RdKafka::err2str(err));
      }
      producer_->poll(100);  // the queue drains as deliveries are acknowledged
    }
    producer_->poll(0);
    std::lock_guard lock(mutex_);
    return failure_;
  }

  Status flush(std::chrono::milliseconds timeout) {
    if (auto err = producer_->flush(static_cast<int>(timeout.count()));
        err != RdKafka::ERR_NO_ERROR) {
      return make_error(ErrorCode::kTimeout, "Kafka flush: {} ({} messages not acknowledged)",
                        RdKafka::err2str(err), producer_->outq_len());
    }
    std::lock_guard lock(mutex_);
    return failure_;
  }

  uint64_t delivered() const { return delivered_.load(); }

 private:
  LogEvents events_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::atomic<uint64_t> delivered_{0};
  std::mutex mutex_;
  Status failure_;  // the first failed delivery
};

Result<std::unique_ptr<KafkaProducer>> KafkaProducer::open(
    const std::string& brokers,
    const std::vector<std::pair<std::string, std::string>>& properties) {
  auto impl = std::make_unique<Impl>();
  TP_RETURN_IF_ERROR(impl->open(brokers, properties));
  return std::unique_ptr<KafkaProducer>(new KafkaProducer(std::move(impl)));
}

KafkaProducer::KafkaProducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaProducer::~KafkaProducer() {
  if (impl_) (void)impl_->flush(std::chrono::seconds(10));
}
Status KafkaProducer::produce(const std::string& topic, std::string_view key,
                              std::string_view payload) {
  return impl_->produce(topic, key, payload);
}
Status KafkaProducer::flush(std::chrono::milliseconds timeout) { return impl_->flush(timeout); }
uint64_t KafkaProducer::delivered() const { return impl_->delivered(); }

std::string_view event_key(std::string_view line) {
  for (std::string_view field :
       {std::string_view("\"restaurant_id\""), std::string_view("\"location_id\"")}) {
    size_t at = line.find(field);
    if (at == std::string_view::npos) continue;
    at = line.find(':', at + field.size());
    if (at == std::string_view::npos) continue;
    at = line.find_first_not_of(" \t", at + 1);
    if (at == std::string_view::npos) continue;
    if (line[at] == '"') {
      size_t end = line.find('"', at + 1);
      if (end != std::string_view::npos) return line.substr(at + 1, end - at - 1);
    } else {
      size_t end = line.find_first_of(",} \t", at);
      return line.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    }
  }
  return {};
}

}  // namespace tp::source
