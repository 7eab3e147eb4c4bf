#include "cli/consumer_flags.h"

#include <optional>

#include <fmt/core.h>

#include "common/time.h"

namespace tp::cli {
namespace {

// Milliseconds of a --retry-for value: a duration ("90s", "10m"), "0" (no retries) or
// "forever" (-1, the policy's "never give up").
std::optional<int64_t> retry_for_ms(const std::string& text) {
  if (text == "forever") return -1;
  if (text == "0") return 0;
  return parse_duration_ms(text);
}

constexpr const char* kRetryForError = "not a duration like 90s or 10m, 0 or forever";

}  // namespace

void add_consumer_flags(CLI::App* command, ConsumerFlags& flags, ConsumerDefaults defaults) {
  auto& o = flags.options;
  command->add_option("--dlq", o.dead_letter_path,
                      "Dead-letter file: refused lines with reason, detail, source and line");
  command
      ->add_option("--dlq-max-bytes", o.dead_letter_max_bytes,
                   "Cap on the dead-letter file's size; refused lines past it are counted "
                   "(dead_letters_dropped), not written; 0: no cap")
      ->capture_default_str();
  command->add_flag("-f,--follow", o.follow,
                    "Keep reading files as they grow, across truncation and rotation (tail -F)");
  command->add_option("--batch-rows", o.batch_max_rows, "Insert when a batch has this many events")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  o.batch_max_age_ms = defaults.batch_ms;
  command->add_option("--batch-ms", o.batch_max_age_ms, "Insert when a batch is this old (ms)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3'600'000));
  command
      ->add_option("--match-ms", o.match_linger_ms,
                   "Run the match step (wait times, turnover, the committed counters) at most "
                   "about once per this many ms, and per --batch-ms; lower: fresher panels, "
                   "more CPU")
      ->capture_default_str()
      ->check(CLI::Range(1, 3'600'000));
  command
      ->add_option("--dedup-memory", o.dedup_memory_ids,
                   "event_ids remembered in memory (at least --batch-rows)")
      ->capture_default_str();
  command->add_option("--dedup-lookback-ms", o.dedup_lookback_ms,
                      "Event-time margin of the database lookup for earlier copies")
      ->capture_default_str();
  command->add_option("--max-line-bytes", o.max_line_bytes, "Longer lines are refused")
      ->capture_default_str()
      ->check(CLI::Range(64, 64 << 20));
  command
      ->add_option("--retry-for", flags.retry_for,
                   fmt::format("How long to keep retrying while the database is unavailable "
                               "(backoff 0.2 s doubling to 10 s): a duration like 90s or 10m, 0 "
                               "(fail at once) or forever; default {}{}",
                               defaults.retry_for,
                               std::string(defaults.retry_for) == "forever"
                                   ? ""
                                   : ", forever with --follow or --kafka (without "
                                     "--until-caught-up)"))
      ->check(CLI::Validator(
          [](std::string& text) -> std::string { return retry_for_ms(text) ? "" : kRetryForError; },
          "DURATION"));
  command->add_flag("--no-resume", flags.no_resume,
                    "Read files from the start instead of after their last committed batch");
  command
      ->add_option("--default-timezone", flags.default_timezone,
                   "IANA zone that timestamps written without one are read in")
      ->capture_default_str();
  auto& kafka = o.kafka;
  command->add_option("--kafka", kafka.brokers,
                      "Kafka bootstrap brokers (host:port,...): read --topic after the files, "
                      "exactly once, as a member of --group");
  command->add_option("--topic", kafka.topic, "The Kafka topic of the events (with --kafka)");
  command
      ->add_option("--group", kafka.group, "Kafka consumer group: its members share the partitions")
      ->capture_default_str();
  command->add_option("--kafka-property", flags.kafka_properties,
                      "A librdkafka property NAME=VALUE (SASL, TLS, timeouts); VALUE env:VAR "
                      "reads it from the environment; repeatable");
  command->add_flag("--until-caught-up", kafka.until_caught_up,
                    "End once every assigned partition reached the end it had when assigned");
  command->add_option("--dlq-topic", kafka.dead_letter_topic,
                      "Also produce the dead-letter records of refused messages to this topic");
}

Result<std::vector<std::pair<std::string, std::string>>> parse_kafka_properties(
    const std::vector<std::string>& values) {
  std::vector<std::pair<std::string, std::string>> properties;
  for (const std::string& property : values) {
    const size_t equals = property.find('=');
    if (equals == std::string::npos || equals == 0) {
      return make_error(ErrorCode::kInvalidArgument, "--kafka-property {}: not NAME=VALUE",
                        property.substr(0, equals));
    }
    properties.emplace_back(property.substr(0, equals), property.substr(equals + 1));
  }
  return properties;
}

Result<ingest::IngestOptions> consumer_options(const ConsumerFlags& flags,
                                               ConsumerDefaults defaults) {
  ingest::IngestOptions options = flags.options;
  options.resume = !flags.no_resume;
  // A live source (a followed file, a Kafka topic read until stopped) never ends by itself:
  // it waits out any outage.
  const bool live =
      options.follow || (!options.kafka.brokers.empty() && !options.kafka.until_caught_up);
  const std::string retry_for = !flags.retry_for.empty() ? flags.retry_for
                                : live                   ? std::string("forever")
                                                         : std::string(defaults.retry_for);
  auto give_up_after_ms = retry_for_ms(retry_for);
  if (!give_up_after_ms) {
    return make_error(ErrorCode::kInvalidArgument, "--retry-for {}: {}", retry_for,
                      kRetryForError);
  }
  options.retry.give_up_after_ms = *give_up_after_ms;
  // Ids of one batch must all stay in memory while it is built, or two copies of one id
  // could reach the same insert block (the lookup only sees what is stored).
  if (options.dedup_memory_ids < options.batch_max_rows) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--dedup-memory ({}) must be at least --batch-rows ({})",
                      options.dedup_memory_ids, options.batch_max_rows);
  }
  if (options.kafka.brokers.empty() != options.kafka.topic.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--kafka and --topic go together");
  }
  if (options.kafka.brokers.empty() &&
      (options.kafka.until_caught_up || !options.kafka.dead_letter_topic.empty() ||
       !flags.kafka_properties.empty())) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--until-caught-up, --dlq-topic and --kafka-property need --kafka");
  }
  auto properties = parse_kafka_properties(flags.kafka_properties);
  if (!properties.ok()) return properties.error();
  options.kafka.properties = std::move(properties.value());
  auto zone = TimeZone::load(flags.default_timezone);
  if (!zone.ok()) return zone.error();
  options.default_zone = zone.value();
  return options;
}

}  // namespace tp::cli
