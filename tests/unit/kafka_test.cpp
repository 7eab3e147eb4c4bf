// The Kafka source against a real broker (Apache Kafka 4.x, KRaft, one node, started by
// scripts/kafka-test-broker.sh) and the embedded engine: what a topic delivers is stored exactly
// as a file run of the same lines stores it, across kill -9, broker restarts, poison messages,
// added partitions and a database outage.
#include "source/kafka.h"

#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "clickhouse/schema.h"
#include "ingest/consumer.h"
#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kScript = std::string(TABLEPULSE_SOURCE_DIR) + "/scripts/kafka-test-broker.sh";

// The tests' broker: the one ctest's fixture started (KafkaBroker.Start, its directory in
// $TP_KAFKA_DIR), or else one of this process's own, stopped when it exits (and, through
// TP_WATCH_PID, if it dies).
class Broker {
 public:
  static Broker& get() {
    static Broker broker;
    return broker;
  }
  const std::string& bootstrap() const { return bootstrap_; }
  // The listener that takes SASL/PLAIN ("" if the broker was started by an older script).
  std::string sasl_bootstrap() const { return first_line(dir_ + "/sasl_bootstrap"); }
  // The listener that takes TLS ("" if the broker was started by an older script), and the CA
  // that signed its certificate (tls/other-ca.pem signed nothing).
  std::string ssl_bootstrap() const { return first_line(dir_ + "/ssl_bootstrap"); }
  // The listener that also requires a client certificate signed by that CA (tls/client.*;
  // tls/other-client.* is signed by other-ca), "" if the broker was started by an older script.
  std::string mtls_bootstrap() const { return first_line(dir_ + "/mtls_bootstrap"); }
  std::string tls_file(const std::string& name) const { return dir_ + "/tls/" + name; }
  bool ok() const { return !bootstrap_.empty(); }

  void create_topic(const std::string& name, int partitions) {
    ASSERT_EQ(script(fmt::format("topic {} create {} {}", dir_, name, partitions)), 0);
  }
  void add_partitions(const std::string& name, int count) {
    ASSERT_EQ(script(fmt::format("topic {} add-partitions {} {}", dir_, name, count)), 0);
  }
  void stop() { ASSERT_EQ(script(fmt::format("stop {}", dir_)), 0); }
  void start() {
    ASSERT_EQ(script(fmt::format("start {}", dir_)), 0) << log_tail();
    bootstrap_ = first_line(dir_ + "/bootstrap");
  }
  static std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
  }
  std::string log_tail() const {
    return test::run_command(fmt::format("tail -n 30 {}/logs/server.log 2>&1", dir_)).out;
  }

 private:
  Broker() {
    const char* shared = std::getenv("TP_KAFKA_DIR");
    if (shared != nullptr && std::filesystem::exists(std::string(shared) + "/bootstrap")) {
      dir_ = shared;
      bootstrap_ = first_line(dir_ + "/bootstrap");
      return;
    }
    own_.emplace();
    dir_ = own_->str();
    start();
  }
  ~Broker() {
    if (own_) (void)script(fmt::format("stop {}", dir_));
  }
  int script(const std::string& args) const {
    // The watcher only for a broker of this process's own.
    return test::run_command(fmt::format("{}bash {} {} >&2",
                                         own_ ? fmt::format("TP_WATCH_PID={} ", ::getpid()) : "",
                                         kScript, args))
        .status;
  }
  std::optional<test::TempDir> own_;
  std::string dir_;
  std::string bootstrap_;
};

// A topic name no other test uses.
std::string fresh_topic(const std::string& stem) {
  static int counter = 0;
  return fmt::format("{}-{}-{}", stem, ::getpid(), ++counter);
}

// The lines of a generated file (the generator's noise included: duplicates, late, malformed).
std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Produces `lines` to `topic`, keyed by restaurant as `generate --kafka` does, at up to
// `per_second` lines a second (0: as fast as possible), with the producer's `properties`.
void produce(const std::string& topic, const std::vector<std::string>& lines, size_t from,
             size_t to, double per_second = 0,
             const std::vector<std::pair<std::string, std::string>>& properties = {}) {
  auto producer = source::KafkaProducer::open(Broker::get().bootstrap(), properties);
  ASSERT_TRUE(producer.ok()) << producer.error().to_string();
  const auto started = std::chrono::steady_clock::now();
  for (size_t i = from; i < to; ++i) {
    ASSERT_TRUE(producer.value()->produce(topic, source::event_key(lines[i]), lines[i]).ok());
    if (per_second > 0 && (i - from) % 100 == 99) {
      std::this_thread::sleep_until(
          started + std::chrono::microseconds(
                        static_cast<int64_t>(1e6 * static_cast<double>(i - from) / per_second)));
    }
  }
  Status flushed = producer.value()->flush(60s);
  ASSERT_TRUE(flushed.ok()) << flushed.error().to_string();
}

// Generates `events` events (seed 7, the crash test's noise) into `path`.
void generate(const std::string& path, int events, int restaurants = 8) {
  auto generated = test::run_command(fmt::format(
      "{} generate --restaurants {} --events {} --seed 7 --duplicate-rate 0.05 --late-rate 0.02 "
      "--malformed-rate 0.01 --conflict-rate 0.005 -o {} 2>/dev/null",
      test::tablepulse_binary(), restaurants, events, path));
  ASSERT_EQ(generated.status, 0);
}

// What a clean file run of `path` stores.
json clean_run(const test::TempDir& dir, const std::string& path) {
  const std::string db = (dir.path() / "clean").string();
  auto run = test::run_command(fmt::format("{} ingest --db {} -q --batch-rows 2000 {} 2>/dev/null",
                                           test::tablepulse_binary(), db, path));
  EXPECT_EQ(run.status, 0) << run.out;
  return test::stored(db);
}

// `ingest --kafka` of `topic` until caught up; its summary (its log goes to the test's stderr).
json ingest_until_caught_up(const std::string& db, const std::string& topic,
                            const std::string& extra = "") {
  auto run = test::run_command(
      fmt::format("{} ingest --db {} -q --kafka {} --topic {} --until-caught-up --batch-rows 2000 "
                  "--kafka-property session.timeout.ms=6000 {} | tail -1",
                  test::tablepulse_binary(), db, Broker::get().bootstrap(), topic, extra));
  EXPECT_EQ(run.status, 0) << run.out;
  return json::parse(run.out, nullptr, false);
}

// Everything but the number of batches (a topic's partitions batch apart what a file batches
// together) must match a clean file run.
void expect_same_as_clean(const json& actual, const json& expected) {
  EXPECT_EQ(actual["events"], expected["events"]);
  EXPECT_EQ(actual["events"]["rows"], expected["events"]["ids"]);  // nothing stored twice
  EXPECT_EQ(actual["order_items"], expected["order_items"]);
  EXPECT_EQ(actual["batches"], expected["batches"]);  // lines, blank and every data-quality total
  EXPECT_EQ(actual["matches"], expected["matches"]);
}

class EngineKafka : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Broker::get().ok()) GTEST_FAIL() << "the test broker did not start";
  }
  // A test's input: `events` generated events in a file, its lines, and a new topic of
  // `partitions` partitions for them.
  struct Input {
    std::string path;
    std::vector<std::string> lines;
    std::string topic;
  };
  Input prepare(const std::string& stem, int events, int partitions, int restaurants = 8) {
    Input input{(dir_.path() / "events.jsonl").string(), {}, fresh_topic(stem)};
    generate(input.path, events, restaurants);
    input.lines = read_lines(input.path);
    Broker::get().create_topic(input.topic, partitions);
    return input;
  }
  test::TempDir dir_;
};

TEST_F(EngineKafka, UntilCaughtUpStoresWhatAFileRunOfTheSameLinesStores) {
  const auto [input, lines, topic] = prepare("same", 20000, 6);
  produce(topic, lines, 0, lines.size());

  const std::string db = (dir_.path() / "kafka").string();
  json summary = ingest_until_caught_up(db, topic);
  ASSERT_TRUE(summary.is_object()) << summary;
  EXPECT_EQ(summary["lines"].get<uint64_t>() + summary["blank"].get<uint64_t>(), lines.size());
  EXPECT_EQ(summary["lines"], summary["inserted"].get<uint64_t>() +
                                  summary["duplicates"].get<uint64_t>() +
                                  summary["rejected"].get<uint64_t>());
  expect_same_as_clean(test::stored(db), clean_run(dir_, input));

  // Caught up: a second run finds nothing new and stores nothing twice.
  json again = ingest_until_caught_up(db, topic);
  EXPECT_EQ(again["lines"], 0) << again;
  EXPECT_EQ(again["resumed_from_checkpoint"].get<uint64_t>(), lines.size());
}

// The median stretch of event time (ms) a checkpointed batch of `db` covers (a late event
// widens a batch of either kind: the median is the batches' usual width).
int64_t median_batch_ms(const std::string& db) {
  auto median = test::run_command(fmt::format(
      "{} sql --rows --db {} \"SELECT toInt64(median(toUnixTimestamp64Milli(max_event_ts) - "
      "toUnixTimestamp64Milli(min_event_ts))) AS ms FROM ingest_batches WHERE inserted > 0\"",
      test::tablepulse_binary(), db));
  EXPECT_EQ(median.status, 0) << median.out;
  return json::parse(median.out)["ms"].get<int64_t>();
}

// The partitions' open batches are committed together, --batch-rows events in all: each then
// covers about the stretch of event time a file batch covers. Committed apart, each partition's
// batch of --batch-rows spanned as many times more as there are partitions, and so did every
// lookup and match step of a catch-up (1M events: 1.8x slower). Small record batches and
// fetches, so that the partitions are read in turn within one batch of 2000 events, as they
// are within one of 100 000 at the usual sizes.
TEST_F(EngineKafka, ThePartitionsBatchesGoTogetherAndEachCoversWhatAFileBatchCovers) {
  const auto [input, lines, topic] = prepare("together", 60000, 6, 24);
  produce(topic, lines, 0, lines.size(), 0, {{"batch.size", "16384"}});
  const std::string db = (dir_.path() / "kafka").string();
  json summary =
      ingest_until_caught_up(db, topic, "--kafka-property max.partition.fetch.bytes=32768");
  ASSERT_TRUE(summary.is_object()) << summary;
  expect_same_as_clean(test::stored(db), clean_run(dir_, input));
  const int64_t file_ms = median_batch_ms((dir_.path() / "clean").string());
  const int64_t kafka_ms = median_batch_ms(db);
  std::cerr << "median batch: file " << file_ms << " ms, kafka " << kafka_ms << " ms\n";
  EXPECT_LT(kafka_ms, 2 * file_ms);  // apart: 5.6x
}

TEST_F(EngineKafka, GenerateKafkaProducesTheLinesOfAFileKeyedByRestaurant) {
  const std::string input = (dir_.path() / "events.jsonl").string();
  generate(input, 3000);
  const std::string topic = fresh_topic("generate");
  Broker::get().create_topic(topic, 3);
  auto produced = test::run_command(fmt::format(
      "{} generate --restaurants 8 --events 3000 --seed 7 --duplicate-rate 0.05 --late-rate 0.02 "
      "--malformed-rate 0.01 --conflict-rate 0.005 --kafka {} --topic {} 2>/dev/null",
      test::tablepulse_binary(), Broker::get().bootstrap(), topic));
  ASSERT_EQ(produced.status, 0);
  const std::string db = (dir_.path() / "kafka").string();
  json summary = ingest_until_caught_up(db, topic);
  expect_same_as_clean(test::stored(db), clean_run(dir_, input));
  // Each restaurant's events are in one partition.
  auto owners = test::run_command(
      fmt::format("{} sql --rows --db {} \"SELECT max(n) AS most FROM (SELECT restaurant_id, "
                  "uniqExact(source_id) AS n FROM events GROUP BY restaurant_id)\"",
                  test::tablepulse_binary(), db));
  ASSERT_EQ(owners.status, 0);
  EXPECT_EQ(json::parse(owners.out)["most"], 1) << owners.out;
}

TEST_F(EngineKafka, KillNineTenTimesWhileAProducerWritesThenResumeIsExact) {
  const auto [input, lines, topic] = prepare("crash", 60000, 6);
  // The producer writes for about a minute while the consumer is killed again and again.
  std::thread producer([&] { produce(topic, lines, 0, lines.size(), 1200); });

  const std::string db = (dir_.path() / "crash").string();
  const std::string dlq = (dir_.path() / "crash.dlq").string();
  std::mt19937 random(20261203);
  int kills = 0;
  std::error_code ec;
  for (int attempt = 0; attempt < 14 && kills < 10; ++attempt) {
    // As in the file crash test: each kill after this run committed a batch of its own (its
    // dead letters are written with its checkpoint), at a random moment after that.
    auto committed_before = std::filesystem::file_size(dlq, ec);
    if (ec) committed_before = 0;
    pid_t pid =
        test::spawn({test::tablepulse_binary(), "ingest", "--db", db, "--dlq", dlq, "-q",
                     "--batch-rows", "500", "--batch-ms", "200", "--kafka",
                     Broker::get().bootstrap(), "--topic", topic, "--kafka-property",
                     "session.timeout.ms=6000", "--kafka-property", "heartbeat.interval.ms=500"});
    for (int poll = 0; poll < 1500; ++poll) {
      auto size = std::filesystem::file_size(dlq, ec);
      if (!ec && size > committed_before) break;
      std::this_thread::sleep_for(20ms);
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 1500)(random)));
    ::kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ++kills;
  }
  producer.join();
  EXPECT_GE(kills, 10);
  json summary = ingest_until_caught_up(db, topic, "--dlq " + dlq);
  ASSERT_TRUE(summary.is_object()) << summary;
  expect_same_as_clean(test::stored(db), clean_run(dir_, input));

  // Each refused message is in the dead-letter file once, with its topic, partition and offset.
  std::map<std::pair<int, uint64_t>, int> written;
  std::ifstream in(dlq);
  for (std::string text; std::getline(in, text);) {
    json record = json::parse(text);
    EXPECT_EQ(record["topic"], topic);
    EXPECT_EQ(record["source"], source::kafka_source_id(topic, record["partition"].get<int>()));
    EXPECT_EQ(record["offset"].get<uint64_t>() + 1, record["line_number"].get<uint64_t>());
    ++written[{record["partition"].get<int>(), record["offset"].get<uint64_t>()}];
  }
  auto clean = test::stored((dir_.path() / "clean").string());
  EXPECT_EQ(written.size(), clean["batches"]["rejected"].get<uint64_t>()) << "kills: " << kills;
  for (const auto& [where, count] : written) {
    EXPECT_EQ(count, 1) << "partition " << where.first << " offset " << where.second;
  }
}

TEST_F(EngineKafka, PoisonMessagesAreRefusedWithTheirOffsetAndThePartitionGoesOn) {
  const std::string topic = fresh_topic("poison");
  Broker::get().create_topic(topic, 1);
  // The brief's own example events (a recent day: within any retention) around the poison.
  const std::vector<std::string> lines = {
      R"({"event_id":"7b0c7f4e-2d1a-4f5e-9a51-0c6e8e1d2a01","event_type":"table_seated","timestamp":"2026-12-01T18:23:45.123Z","restaurant_id":"rest_001","restaurant_name":"Downtown Location","table_id":"table_12","party_size":4,"server_id":"server_456"})",
      std::string("\xff\xfe\x00garbage", 10),
      std::string(100 << 10, '{'),  // longer than --max-line-bytes below
      "",
      R"({"event_id":"7b0c7f4e-2d1a-4f5e-9a51-0c6e8e1d2a02","event_type":"order_placed","timestamp":"2026-12-01T18:30:15.456Z","restaurant_id":"rest_001","restaurant_name":"Downtown Location","table_id":"table_12","server_id":"server_456","order_id":"order_789","items":[{"item_id":"item_101","item_name":"Margherita Pizza","category":"Pizza","price":18.99,"quantity":2},{"item_id":"item_205","item_name":"Caesar Salad","category":"Salad","price":12.99,"quantity":1}],"subtotal":50.97})",
      R"({"event_id":"7b0c7f4e-2d1a-4f5e-9a51-0c6e8e1d2a03","event_type":"order_placed","restaurant_id":"rest_001"})",
  };
  produce(topic, lines, 0, lines.size());
  const std::string db = (dir_.path() / "kafka").string();
  const std::string dlq = (dir_.path() / "dlq.jsonl").string();
  json summary = ingest_until_caught_up(db, topic, "--max-line-bytes 65536 --dlq " + dlq);
  ASSERT_TRUE(summary.is_object()) << summary;
  EXPECT_EQ(summary["inserted"], 2) << summary;
  EXPECT_EQ(summary["blank"], 1) << summary;
  EXPECT_EQ(summary["rejected"], 3) << summary;
  EXPECT_EQ(summary["rejected_by_reason"]["line_too_long"], 1) << summary;
  std::map<uint64_t, std::string> reasons;
  std::ifstream in(dlq);
  for (std::string text; std::getline(in, text);) {
    json record = json::parse(text);
    EXPECT_EQ(record["partition"], 0);
    reasons[record["offset"].get<uint64_t>()] = record["reason"].get<std::string>();
  }
  ASSERT_EQ(reasons.size(), 3u);
  EXPECT_EQ(reasons.count(1), 1u);
  EXPECT_EQ(reasons[2], "line_too_long");
  EXPECT_EQ(reasons.count(5), 1u);
}

// Credentials pass through as librdkafka properties, the secret from the environment: against
// the broker's SASL/PLAIN listener the right password stores what a file run stores and is in
// no log line (-v), and a wrong one is `auth_failed` within seconds (it was `unavailable`
// after 30 s, saying the broker did not answer).
TEST_F(EngineKafka, SaslCredentialsFromTheEnvironmentWorkAndAWrongPasswordIsAuthFailed) {
  const std::string sasl = Broker::get().sasl_bootstrap();
  ASSERT_FALSE(sasl.empty()) << "the test broker has no SASL listener: restart it";
  const auto [input, lines, topic] = prepare("sasl", 3000, 3);
  produce(topic, lines, 0, lines.size());
  const std::string secret = "tp-test-secret";  // scripts/kafka-test-broker.sh's test user
  auto ingest = [&](const std::string& password, const std::string& db) {
    return test::run_command(fmt::format(
        "TP_TEST_KAFKA_PASSWORD={} {} -v ingest --db {} -q --kafka {} --topic {} "
        "--until-caught-up --batch-rows 2000 --kafka-property security.protocol=SASL_PLAINTEXT "
        "--kafka-property sasl.mechanism=PLAIN --kafka-property sasl.username=tablepulse "
        "--kafka-property sasl.password=env:TP_TEST_KAFKA_PASSWORD 2>&1",
        password, test::tablepulse_binary(), db, sasl, topic));
  };
  const std::string db = (dir_.path() / "kafka").string();
  auto run = ingest(secret, db);
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_NE(run.out.find("sasl.password"), std::string::npos) << "names are logged";
  EXPECT_EQ(run.out.find(secret), std::string::npos) << "the secret is logged:\n" << run.out;
  expect_same_as_clean(test::stored(db), clean_run(dir_, input));

  const auto started = std::chrono::steady_clock::now();
  auto refused = ingest("not-" + secret, (dir_.path() / "refused").string());
  EXPECT_EQ(refused.status, error_exit_status(ErrorCode::kAuth)) << refused.out;
  EXPECT_NE(refused.out.find("refused the credentials"), std::string::npos) << refused.out;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
}

// TLS passes through the same way: against the broker's SSL listener, trusting the CA that
// signed its certificate stores what a file run stores, and trusting another CA is
// `auth_failed` within seconds, saying the handshake failed (it was `unavailable` after 30 s,
// saying the broker did not answer).
TEST_F(EngineKafka, TlsWithTheBrokersCaWorksAndAnUntrustedCertificateIsAuthFailed) {
  const std::string ssl = Broker::get().ssl_bootstrap();
  ASSERT_FALSE(ssl.empty()) << "the test broker has no TLS listener: restart it";
  const auto [input, lines, topic] = prepare("tls", 3000, 3);
  produce(topic, lines, 0, lines.size());
  auto ingest = [&](const std::string& ca, const std::string& db) {
    return test::run_command(fmt::format(
        "{} ingest --db {} -q --kafka {} --topic {} --until-caught-up --batch-rows 2000 "
        "--kafka-property security.protocol=SSL --kafka-property ssl.ca.location={} 2>&1",
        test::tablepulse_binary(), db, ssl, topic, Broker::get().tls_file(ca)));
  };
  const std::string db = (dir_.path() / "kafka").string();
  auto run = ingest("ca.pem", db);
  EXPECT_EQ(run.status, 0) << run.out;
  expect_same_as_clean(test::stored(db), clean_run(dir_, input));

  const auto started = std::chrono::steady_clock::now();
  auto refused = ingest("other-ca.pem", (dir_.path() / "refused").string());
  EXPECT_EQ(refused.status, error_exit_status(ErrorCode::kAuth)) << refused.out;
  EXPECT_NE(refused.out.find("TLS handshake"), std::string::npos) << refused.out;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
}

// Mutual TLS, the same pass-through: against the listener that requires a client certificate,
// the one its CA signed stores what a file run stores; none, or one another CA signed, is
// `auth_failed` within seconds, saying the handshake failed.
TEST_F(EngineKafka, MutualTlsWithASignedClientCertificateWorksAndNoneOrAnUntrustedOneIsAuthFailed) {
  const std::string mtls = Broker::get().mtls_bootstrap();
  ASSERT_FALSE(mtls.empty()) << "the test broker has no mutual-TLS listener: restart it";
  const auto [input, lines, topic] = prepare("mtls", 3000, 3);
  produce(topic, lines, 0, lines.size());
  const Broker& broker = Broker::get();
  auto ingest = [&](const std::string& client, const std::string& db) {
    std::string certificate;
    if (!client.empty()) {
      certificate = fmt::format(
          " --kafka-property ssl.certificate.location={} --kafka-property ssl.key.location={}",
          broker.tls_file(client + ".crt"), broker.tls_file(client + ".key"));
    }
    return test::run_command(fmt::format(
        "{} ingest --db {} -q --kafka {} --topic {} --until-caught-up --batch-rows 2000 "
        "--kafka-property security.protocol=SSL --kafka-property ssl.ca.location={}{} 2>&1",
        test::tablepulse_binary(), db, mtls, topic, broker.tls_file("ca.pem"), certificate));
  };
  const std::string db = (dir_.path() / "kafka").string();
  auto run = ingest("client", db);
  EXPECT_EQ(run.status, 0) << run.out;
  expect_same_as_clean(test::stored(db), clean_run(dir_, input));

  for (const std::string client : {"", "other-client"}) {
    SCOPED_TRACE("client certificate: " + (client.empty() ? "none" : client));
    const auto started = std::chrono::steady_clock::now();
    auto refused = ingest(client, (dir_.path() / ("refused-" + client)).string());
    EXPECT_EQ(refused.status, error_exit_status(ErrorCode::kAuth)) << refused.out;
    EXPECT_NE(refused.out.find("TLS handshake"), std::string::npos) << refused.out;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
  }
}

TEST_F(EngineKafka, AMissingTopicIsAClearErrorNotASilentWait) {
  auto run = test::run_command(fmt::format(
      "{} ingest --db {} -q --kafka {} --topic no-such-topic --until-caught-up 2>&1",
      test::tablepulse_binary(), (dir_.path() / "db").string(), Broker::get().bootstrap()));
  EXPECT_EQ(run.status, error_exit_status(ErrorCode::kNotFound)) << run.out;
}

// The sum over partitions of a labelled /metrics sample (-1: no partition reported).
int64_t partition_sum(const std::string& text, const std::string& name) {
  int64_t sum = -1;
  for (size_t at = text.find("\n" + name + "{"); at != std::string::npos;
       at = text.find("\n" + name + "{", at + 1)) {
    size_t value = text.find("} ", at);
    sum = std::max<int64_t>(sum, 0) + std::atoll(text.c_str() + value + 2);
  }
  return sum;
}

// A serve reading `topic`, and its /metrics.
struct KafkaServe {
  test::ServeProcess process;
  std::unique_ptr<httplib::Client> client;
  KafkaServe(const std::string& db, const std::string& topic,
             const std::vector<test::EnvVar>& env = {})
      : process(test::start_serve(
            fmt::format("--db {} --kafka {} --topic {} --batch-rows 2000 --kafka-property "
                        "session.timeout.ms=6000",
                        db, Broker::get().bootstrap(), topic),
            env)),
        client(std::make_unique<httplib::Client>("127.0.0.1", process.port)) {}
  std::string metrics() {
    auto res = client->Get("/metrics");
    return res && res->status == 200 ? res->body : std::string();
  }
  // Waits until the owned partitions are `partitions` and their checkpoints cover `messages`
  // (a fresh topic's offsets start at 0: the committed offsets add up to what was produced).
  bool wait_caught_up(size_t partitions, size_t messages, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string text = metrics();
      if (test::sample(text, "tablepulse_kafka_partitions") == static_cast<double>(partitions) &&
          partition_sum(text, "tablepulse_kafka_committed_offset") ==
              static_cast<int64_t>(messages) &&
          partition_sum(text, "tablepulse_kafka_lag_messages") == 0) {
        return true;
      }
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }
};

// The consumer's resident memory (kB), from /proc.
int64_t resident_kb(int pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

TEST_F(EngineKafka, ADatabaseOutageOf30sPausesThePartitionsAndLosesNothing) {
  const auto [input, lines, topic] = prepare("outage", 40000, 3);
  const std::string db = (dir_.path() / "kafka").string();
  // Every insert fails for 30 s once a few batches are in (the fault is in the ClickHouse
  // client: no modern server runs here to stop).
  KafkaServe serve(db, topic, {{"TABLEPULSE_FAULTS", "clickhouse_insert_unavailable=6:30s"}});
  ASSERT_GT(serve.process.port, 0) << serve.process.first_line;
  std::thread producer([&] { produce(topic, lines, 0, lines.size(), 2500); });
  bool paused = false, retrying = false;
  int64_t most_kb = 0;
  for (int i = 0; i < 400 && !(paused && retrying); ++i) {
    std::string text = serve.metrics();
    paused = paused || test::sample(text, "tablepulse_kafka_paused") == 1;
    retrying = retrying || test::sample(text, "tablepulse_database_retrying") > 0;
    most_kb = std::max(most_kb, resident_kb(serve.process.pid));
    std::this_thread::sleep_for(100ms);
  }
  producer.join();
  EXPECT_TRUE(paused) << "the partitions were never paused";
  EXPECT_TRUE(retrying) << "the outage never showed on /metrics";
  EXPECT_TRUE(serve.wait_caught_up(3, lines.size(), 180s)) << serve.metrics();
  most_kb = std::max(most_kb, resident_kb(serve.process.pid));
  // Paused, the consumer holds a few batches, not the topic: bounded memory.
  EXPECT_LT(most_kb, 1536 * 1024) << "resident kB";
  EXPECT_EQ(test::stop_serve(serve.process), 0) << serve.process.first_line;
  expect_same_as_clean(test::stored(db), clean_run(dir_, input));
}

TEST_F(EngineKafka, TheBrokerRestartedMidStreamLosesNothing) {
  const auto [input, lines, topic] = prepare("restart", 20000, 3);
  const std::string db = (dir_.path() / "kafka").string();
  KafkaServe serve(db, topic);
  ASSERT_GT(serve.process.port, 0) << serve.process.first_line;
  produce(topic, lines, 0, lines.size() / 2, 4000);
  Broker::get().stop();
  std::this_thread::sleep_for(3s);  // the consumer goes on without its broker for a while
  Broker::get().start();
  produce(topic, lines, lines.size() / 2, lines.size(), 4000);
  EXPECT_TRUE(serve.wait_caught_up(3, lines.size(), 180s)) << serve.metrics();
  EXPECT_EQ(test::stop_serve(serve.process), 0) << serve.process.first_line;
  expect_same_as_clean(test::stored(db), clean_run(dir_, input));
}

TEST_F(EngineKafka, APartitionAddedWhileRunningIsReadFromItsStart) {
  const auto [input, lines, topic] = prepare("grow", 20000, 2, 24);
  const std::string db = (dir_.path() / "kafka").string();
  KafkaServe serve(db, topic);
  ASSERT_GT(serve.process.port, 0) << serve.process.first_line;
  produce(topic, lines, 0, lines.size() / 2);
  ASSERT_TRUE(serve.wait_caught_up(2, lines.size() / 2, 120s)) << serve.metrics();
  Broker::get().add_partitions(topic, 4);
  // The producer sees the new partitions too: some restaurants' later events go there (the
  // earlier ones are in order before them: the first half is checkpointed already).
  std::this_thread::sleep_for(12s);
  produce(topic, lines, lines.size() / 2, lines.size());
  EXPECT_TRUE(serve.wait_caught_up(6, lines.size(), 120s)) << serve.metrics();
  EXPECT_EQ(test::stop_serve(serve.process), 0) << serve.process.first_line;
  json actual = test::stored(db);
  json expected = clean_run(dir_, input);
  // Late counts may differ (a restaurant's events now in two partitions are read in another
  // order); what is stored may not.
  EXPECT_EQ(actual["events"], expected["events"]);
  EXPECT_EQ(actual["order_items"], expected["order_items"]);
  EXPECT_EQ(actual["matches"], expected["matches"]);
  EXPECT_EQ(actual["batches"]["lines"], expected["batches"]["lines"]);
  EXPECT_EQ(actual["batches"]["rejected"], expected["batches"]["rejected"]);
  EXPECT_EQ(actual["batches"]["events"], expected["batches"]["events"]);
}

// Two members of one group in this process, on its embedded engine (two processes cannot
// share one embedded engine; with a ClickHouse server they would be two processes): the second
// joins mid-stream and takes partitions over, then the first leaves and the second takes the
// rest. Together they store each event once and count what a file run counts.
TEST_F(EngineKafka, ASecondConsumerJoinsMidStreamAndTheFirstLeavesTotalsStayExact) {
  const auto [input, lines, topic] = prepare("join", 30000, 6);
  auto client = test::embedded_client();
  ASSERT_TRUE(clickhouse::migrate(*client, {}).ok());
  ingest::IngestOptions options;
  options.batch_max_rows = 500;
  options.batch_max_age_ms = 200;
  options.kafka.brokers = Broker::get().bootstrap();
  options.kafka.topic = topic;
  options.kafka.group = "join-" + topic;
  options.kafka.properties = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
  std::thread producer([&] { produce(topic, lines, 0, lines.size(), 3000); });
  auto run = [](ingest::Consumer& consumer, Result<ingest::IngestSummary>& out) {
    out = consumer.run();
  };
  ingest::Consumer first(test::embedded_engine(), options);
  Result<ingest::IngestSummary> first_summary = make_error(ErrorCode::kInternal, "not run");
  std::thread first_thread(run, std::ref(first), std::ref(first_summary));
  std::this_thread::sleep_for(3s);
  ingest::Consumer second(test::embedded_engine(), options);
  Result<ingest::IngestSummary> second_summary = make_error(ErrorCode::kInternal, "not run");
  std::thread second_thread(run, std::ref(second), std::ref(second_summary));
  // The second gets its share of the partitions; then the first leaves.
  for (int i = 0; i < 300; ++i) {
    std::lock_guard lock(second.stats()->mutex);
    if (!second.stats()->kafka_partitions.empty()) break;
    std::this_thread::sleep_for(100ms);
  }
  {
    std::lock_guard lock(second.stats()->mutex);
    EXPECT_FALSE(second.stats()->kafka_partitions.empty()) << "the second member got nothing";
  }
  std::this_thread::sleep_for(2s);
  first.stop();
  first_thread.join();
  producer.join();
  // The second owns all six and has checkpointed everything.
  bool caught_up = false;
  for (int i = 0; i < 600 && !caught_up; ++i) {
    std::this_thread::sleep_for(200ms);
    std::lock_guard lock(second.stats()->mutex);
    int64_t committed = 0;
    for (const auto& [partition, state] : second.stats()->kafka_partitions) {
      committed += std::max<int64_t>(state.committed, 0);
    }
    caught_up = second.stats()->kafka_partitions.size() == 6 &&
                committed == static_cast<int64_t>(lines.size());
  }
  EXPECT_TRUE(caught_up);
  second.stop();
  second_thread.join();
  ASSERT_TRUE(first_summary.ok()) << first_summary.error().to_string();
  ASSERT_TRUE(second_summary.ok()) << second_summary.error().to_string();
  EXPECT_GT(first_summary->counters.lines, 0u);
  EXPECT_GT(second_summary->counters.lines, 0u);
  ingest::BatchCounters both = first_summary->counters;
  both += second_summary->counters;

  json expected = clean_run(dir_, input);
  EXPECT_EQ(both.lines + both.blank, lines.size());
  EXPECT_EQ(both.inserted, expected["batches"]["events"].get<uint64_t>());
  EXPECT_EQ(both.duplicates, expected["batches"]["duplicates"].get<uint64_t>());
  EXPECT_EQ(both.rejected, expected["batches"]["rejected"].get<uint64_t>());
  EXPECT_EQ(both.late_events, expected["batches"]["late_events"].get<uint64_t>());
  auto rows = client->query_json_rows(
      "SELECT count() AS rows, uniqExact(event_id) AS ids, "
      "sum(cityHash64(toString(event_id), content_hash)) AS hash FROM events FINAL",
      {});
  ASSERT_TRUE(rows.ok() && rows->size() == 1);
  json stored = json::parse(rows->front());
  EXPECT_EQ(stored["rows"], expected["events"]["ids"]);
  EXPECT_EQ(stored["ids"], expected["events"]["ids"]);
  EXPECT_EQ(stored["hash"], expected["events"]["hash"]);
}

TEST(KafkaSourceId, RoundTripsAndRefusesOtherIds) {
  EXPECT_EQ(source::kafka_source_id("events", 3), "kafka:events/3");
  auto parsed = source::parse_kafka_source_id("kafka:a/b/12");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->first, "a/b");
  EXPECT_EQ(parsed->second, 12);
  EXPECT_FALSE(source::parse_kafka_source_id("file:/tmp/x"));
  EXPECT_FALSE(source::parse_kafka_source_id("kafka:events/"));
  EXPECT_FALSE(source::parse_kafka_source_id("kafka:events/1x"));
}

// librdkafka's prefetch holds two batches: at 16 MB (under one batch of 100 000 lines) the
// reading of a 1M-event catch-up waited 7-10 s of 23 s in empty polls (bench/kafka.sh).
TEST(KafkaPrefetch, HoldsTwoBatchesAndAtLeastTheLibraryDefault) {
  EXPECT_EQ(source::kafka_prefetch_kbytes(100000), 100000);  // KB: 2 x 100 000 x 512 bytes
  EXPECT_EQ(source::kafka_prefetch_kbytes(2000), 65536);     // librdkafka's default
  EXPECT_EQ(source::kafka_prefetch_kbytes(size_t{1} << 30), 2097151);  // librdkafka's maximum
  EXPECT_EQ(source::KafkaOptions().prefetch_kbytes, 65536);
}

TEST(KafkaEventKey, IsTheRestaurantInEitherSpelling) {
  EXPECT_EQ(source::event_key(R"({"restaurant_id":"r-7","type":"payment"})"), "r-7");
  EXPECT_EQ(source::event_key(R"({"type":"payment","location_id": 42,"x":1})"), "42");
  EXPECT_EQ(source::event_key(R"({"type":"payment"})"), "");
}

}  // namespace
}  // namespace tp
