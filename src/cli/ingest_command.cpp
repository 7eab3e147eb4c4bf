// `tablepulse ingest`: the consumer on files or stdin.
#include <unistd.h>

#include <csignal>

#include <fmt/core.h>

#include "cli/commands.h"
#include "cli/connection.h"
#include "cli/consumer_flags.h"
#include "clickhouse/schema.h"
#include "ingest/consumer.h"

namespace tp::cli {
namespace {

std::atomic<ingest::Consumer*> g_running_consumer{nullptr};

// `ingest` of files or stdin should fail within minutes of an outage that does not end, and a
// server restart is over well within them (--follow waits forever, see ConsumerDefaults).
constexpr ConsumerDefaults kIngestDefaults{"5m", 1000};

// SIGINT/SIGTERM: commit what was read and stop (a second signal kills as usual).
void on_stop_signal(int signal) {
  if (auto* consumer = g_running_consumer.load()) consumer->stop();
  std::signal(signal, SIG_DFL);
}

}  // namespace

void add_ingest_command(CLI::App& app) {
  struct Flags {
    ConnectionFlags connection;
    ConsumerFlags consumer;
    std::vector<std::string> sources;
    bool quiet = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* command = app.add_subcommand(
      "ingest",
      "Read JSON-lines events from files, stdin or a Kafka topic, validate, deduplicate and "
      "store them");
  add_connection_flags(command, flags->connection);
  add_allow_broken_parts_flag(command, flags->connection);
  command->add_option("sources", flags->sources, "Files to read; - is stdin (default: stdin)");
  add_consumer_flags(command, flags->consumer, kIngestDefaults);
  command->add_flag("-q,--quiet", flags->quiet, "No progress line on a terminal");
  command->callback([flags] {
    auto parsed = consumer_options(flags->consumer, kIngestDefaults);
    if (!parsed.ok()) fail(parsed.error());
    ingest::IngestOptions& options = parsed.value();
    options.sources = flags->sources;
    // No file and no topic: stdin.
    if (options.sources.empty() && options.kafka.brokers.empty()) options.sources.push_back("-");
    options.progress = !flags->quiet;
    auto factory = open_connection(flags->connection);
    if (!factory.ok()) fail(factory.error());
    if (auto broken = check_broken_parts(*factory.value(), flags->connection); !broken.ok()) {
      fail(broken.error());
    }
    // A database down at start is waited for like one that goes away later (--retry-for).
    auto migrated = migrate_at_start(*factory.value(), options.retry);
    if (!migrated.ok()) fail(migrated.error());
    ingest::Consumer consumer(*factory.value(), options);
    g_running_consumer.store(&consumer);
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    auto summary = consumer.run();
    g_running_consumer.store(nullptr);
    if (!summary.ok()) fail(summary.error());
    // The last line of stdout: one JSON object that scripts read.
    fmt::print("{}\n", summary->to_json().dump());
  });
}

}  // namespace tp::cli
