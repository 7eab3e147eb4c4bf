#pragma once
// The consumer's flags, which `ingest` and `serve` both take: each defined, defaulted and
// validated once here, so the two commands cannot drift apart.
#include <CLI/CLI.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "ingest/consumer.h"

namespace tp::cli {

// What the consumer flags fill in; sources are the command's own (ingest: positional, serve:
// --source), so they are not here.
struct ConsumerFlags {
  ingest::IngestOptions options;          // filled in place by the flags that map one to one
  bool no_resume = false;                 // --no-resume
  std::string default_timezone = "UTC";   // --default-timezone, loaded by consumer_options()
  std::string retry_for;                  // --retry-for as given; empty: the command's default
  std::vector<std::string> kafka_properties;  // --kafka-property k=v, split by consumer_options()
};

// What differs by command. --retry-for when the sources end by themselves (`ingest` of files or
// stdin: "5m", so a batch job fails within minutes of an outage that does not end; `serve`:
// "forever", a server waits out any outage); with --follow it is "forever" for both: such a
// run never ends by itself. --batch-ms: `serve` has a page to keep fresh (a line is on it about
// 2 x --batch-ms after it was read), `ingest` only the database, where fewer, larger inserts
// cost less CPU.
struct ConsumerDefaults {
  const char* retry_for;
  int64_t batch_ms;
};

// Adds --dlq, --dlq-max-bytes, -f/--follow, --batch-rows, --batch-ms, --dedup-memory,
// --dedup-lookback-ms, --max-line-bytes, --retry-for, --no-resume, --default-timezone and the
// Kafka source's --kafka, --topic, --group, --kafka-property, --until-caught-up and --dlq-topic
// to `command`, their help stating the defaults (`defaults.retry_for` included).
void add_consumer_flags(CLI::App* command, ConsumerFlags& flags, ConsumerDefaults defaults);

// librdkafka properties from --kafka-property values ("NAME=VALUE", split at the first "="):
// invalid_argument for one without a name or "=". `ingest`, `serve` and `generate` take them.
Result<std::vector<std::pair<std::string, std::string>>> parse_kafka_properties(
    const std::vector<std::string>& values);

// The consumer's options from parsed flags: invalid_argument for a combination no single flag's
// check can see (--dedup-memory below --batch-rows, --kafka without --topic), an unreadable
// --retry-for, a --kafka-property without "=" or an unknown --default-timezone. Sources, progress
// and stats are left to the command.
Result<ingest::IngestOptions> consumer_options(const ConsumerFlags& flags,
                                               ConsumerDefaults defaults);

}  // namespace tp::cli
