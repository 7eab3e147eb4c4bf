// `tablepulse ingest`: the consumer on files or stdin.
#include <unistd.h>

#include <csignal>
#include <optional>

#include <fmt/core.h>

#include "cli/commands.h"
#include "cli/connection.h"
#include "clickhouse/schema.h"
#include "common/time.h"
#include "ingest/consumer.h"

namespace tp::cli {
namespace {

std::atomic<ingest::Consumer*> g_running_consumer{nullptr};

// --retry-for of a run that ends with its input (files, stdin): a batch job should fail within
// minutes of an outage that does not end, and a server restart is over well within them.
// With --follow the run never ends by itself, so it waits for as long as the database is away.
constexpr const char* kBatchJobRetryFor = "5m";

// Milliseconds of a --retry-for value: a duration ("90s", "10m"), "0" (no retries) or
// "forever" (-1, the policy's "never give up").
std::optional<int64_t> retry_for_ms(const std::string& text) {
  if (text == "forever") return -1;
  if (text == "0") return 0;
  return parse_duration_ms(text);
}

// SIGINT/SIGTERM: commit what was read and stop (a second signal kills as usual).
void on_stop_signal(int signal) {
  if (auto* consumer = g_running_consumer.load()) consumer->stop();
  std::signal(signal, SIG_DFL);
}

}  // namespace

void add_ingest_command(CLI::App& app) {
  struct Flags {
    ConnectionFlags connection;
    ingest::IngestOptions options;
    bool no_resume = false;
    bool quiet = false;
    std::string default_timezone = "UTC";
    std::string retry_for;  // empty: kBatchJobRetryFor, or forever with --follow
  };
  auto flags = std::make_shared<Flags>();
  auto& o = flags->options;
  auto* command = app.add_subcommand(
      "ingest", "Read JSON-lines events from files or stdin, validate, deduplicate and store them");
  add_connection_flags(command, flags->connection);
  add_allow_broken_parts_flag(command, flags->connection);
  command->add_option("sources", o.sources, "Files to read; - is stdin (default: stdin)");
  command->add_option("--dlq", o.dead_letter_path,
                      "Dead-letter file: refused lines with reason, detail, source and line");
  command
      ->add_option("--dlq-max-bytes", o.dead_letter_max_bytes,
                   "Cap on the dead-letter file's size; refused lines past it are counted "
                   "(dead_letters_dropped), not written; 0: no cap")
      ->capture_default_str();
  command->add_flag("-f,--follow", o.follow, "Keep reading files as they grow, across truncation and rotation (tail -F)");
  command->add_option("--batch-rows", o.batch_max_rows, "Insert when a batch has this many events")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000'000));
  command->add_option("--batch-ms", o.batch_max_age_ms, "Insert when a batch is this old (ms)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3'600'000));
  command->add_option("--dedup-memory", o.dedup_memory_ids, "event_ids remembered in memory")
      ->capture_default_str();
  command->add_option("--dedup-lookback-ms", o.dedup_lookback_ms,
                      "Event-time margin of the database lookup for earlier copies")
      ->capture_default_str();
  command->add_option("--max-line-bytes", o.max_line_bytes, "Longer lines are refused")
      ->capture_default_str()
      ->check(CLI::Range(64, 64 << 20));
  command
      ->add_option("--retry-for", flags->retry_for,
                   fmt::format("How long to keep retrying while the database is unavailable "
                               "(backoff 0.2 s doubling to 10 s): a duration like 90s or 10m, 0 "
                               "(fail at once) or forever; default {}, forever with --follow",
                               kBatchJobRetryFor))
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            return retry_for_ms(text) ? "" : "not a duration like 90s or 10m, 0 or forever";
          },
          "DURATION"));
  command->add_flag("--no-resume", flags->no_resume,
                    "Read files from the start instead of after their last committed batch");
  command->add_flag("-q,--quiet", flags->quiet, "No progress line on a terminal");
  command
      ->add_option("--default-timezone", flags->default_timezone,
                   "IANA zone that timestamps written without one are read in")
      ->capture_default_str();
  command->callback([flags] {
    auto& options = flags->options;
    if (options.sources.empty()) options.sources.push_back("-");
    options.resume = !flags->no_resume;
    options.progress = !flags->quiet;
    const std::string& retry_for =
        !flags->retry_for.empty() ? flags->retry_for
                                  : std::string(options.follow ? "forever" : kBatchJobRetryFor);
    options.retry.give_up_after_ms = *retry_for_ms(retry_for);
    // Ids of one batch must all stay in memory while it is built, or two copies of one id
    // could reach the same insert block (the lookup only sees what is stored).
    if (options.dedup_memory_ids < options.batch_max_rows) {
      fail(make_error(ErrorCode::kInvalidArgument,
                      "--dedup-memory ({}) must be at least --batch-rows ({})",
                      options.dedup_memory_ids, options.batch_max_rows));
    }
    auto zone = TimeZone::load(flags->default_timezone);
    if (!zone.ok()) fail(zone.error());
    options.default_zone = zone.value();
    auto factory = open_connection(flags->connection);
    if (!factory.ok()) fail(factory.error());
    if (auto broken = check_broken_parts(*factory.value(), flags->connection); !broken.ok()) {
      fail(broken.error());
    }
    {
      auto client = factory.value()->connect();
      if (!client.ok()) fail(client.error());
      auto migrated = migrate_and_backfill(*client.value(), {});
      if (!migrated.ok()) fail(migrated.error());
    }
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
