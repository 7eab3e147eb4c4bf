// `tablepulse generate`: the mock point-of-sale stream, to a file or stdout, in bulk or live.
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "cli/consumer_flags.h"
#include "common/time.h"
#include "generate/generator.h"
#include "source/kafka.h"

namespace tp::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void request_stop(int) { g_stop = 1; }

// Installs SIGINT/SIGTERM handlers for the lifetime of a run, so that Ctrl-C ends the stream
// cleanly (the last line complete, the summary printed) and restores the previous handlers.
class StopOnSignal {
 public:
  StopOnSignal() {
    g_stop = 0;
    previous_int_ = std::signal(SIGINT, request_stop);
    previous_term_ = std::signal(SIGTERM, request_stop);
  }
  ~StopOnSignal() {
    std::signal(SIGINT, previous_int_);
    std::signal(SIGTERM, previous_term_);
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

 private:
  void (*previous_int_)(int) = SIG_DFL;
  void (*previous_term_)(int) = SIG_DFL;
};

// A CLI11 validator for duration flags ("90s", "10m", "2h").
CLI::Validator duration_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return parse_duration_ms(text) ? "" : "not a duration like 90s, 10m, 2h or 1h30m";
      },
      "DURATION");
}

struct Flags {
  generate::GeneratorOptions options;
  std::optional<int64_t> events;
  std::string duration;
  std::string start;
  std::string max_late = "10m";
  std::string rename_every = "24h";
  std::string output;
  bool live = false;
  std::optional<double> rate;  // live default: 50 events/s
  bool no_rush = false;
  std::string kafka;  // brokers: produce to --topic instead of writing a file
  std::string topic;
  std::vector<std::string> kafka_properties;  // NAME=VALUE (env:VAR allowed)
};

// Waits until the wall clock reaches `due_ms`, in short naps so that a signal is seen quickly.
void wait_until(int64_t due_ms) {
  for (int64_t now = now_ms(); now < due_ms && !g_stop; now = now_ms()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(due_ms - now, 100)));
  }
}

void run(Flags& flags) {
  auto& options = flags.options;
  if (flags.events) options.max_events = *flags.events;
  if (!flags.duration.empty()) options.duration_ms = *parse_duration_ms(flags.duration);
  options.max_late_ms = *parse_duration_ms(flags.max_late);
  options.rename_every_ms = *parse_duration_ms(flags.rename_every);
  options.rush_hours = !flags.no_rush;
  if (!flags.start.empty()) {
    auto start = parse_rfc3339_ms(flags.start);
    if (!start) {
      fmt::print(stderr, "error: --start: '{}' is not an RFC 3339 timestamp with a zone\n",
                 flags.start);
      throw CLI::RuntimeError(2);
    }
    options.start_ms = *start;
  }
  if (flags.live && !flags.start.empty()) spdlog::warn("--start is ignored with --live");
  if (flags.live) {
    // Real time: event time is the wall clock, restaurants are sized for --rate, and the stream
    // starts mid-service so that every metric has data from the first minute.
    options.start_ms = now_ms();
    options.target_rate = flags.rate.value_or(50.0);
    options.rush_hours = false;
    options.warm_start = true;
  } else {
    // Bulk: --rate sizes the restaurants for a denser (or sparser) chain at full service.
    if (flags.rate) options.target_rate = *flags.rate;
    if (options.max_events == 0 && options.duration_ms == 0) {
      options.duration_ms = 12 * 3'600'000LL;  // one service day from the start
    }
  }
  if (auto problem = generate::check_options(options); !problem.empty()) {
    fmt::print(stderr, "error: {}\n", problem);
    throw CLI::RuntimeError(2);
  }

  if (flags.kafka.empty() != flags.topic.empty()) {
    fmt::print(stderr, "error: --kafka and --topic go together\n");
    throw CLI::RuntimeError(2);
  }
  std::unique_ptr<source::KafkaProducer> producer;
  if (!flags.kafka.empty()) {
    if (!flags.output.empty()) {
      fmt::print(stderr, "error: --kafka and --output exclude each other\n");
      throw CLI::RuntimeError(2);
    }
    auto properties = parse_kafka_properties(flags.kafka_properties);
    if (!properties.ok()) {
      fmt::print(stderr, "error: {}\n", properties.error().message);
      throw CLI::RuntimeError(error_exit_status(properties.error().code));
    }
    auto opened = source::KafkaProducer::open(flags.kafka, properties.value());
    if (!opened.ok()) {
      fmt::print(stderr, "error: {}\n", opened.error().to_string());
      throw CLI::RuntimeError(error_exit_status(opened.error().code));
    }
    producer = std::move(opened.value());
  }
  FILE* out = stdout;
  if (!flags.output.empty()) {
    out = std::fopen(flags.output.c_str(), flags.live ? "ab" : "wb");
    if (out == nullptr) {
      fmt::print(stderr, "error: cannot open {}: {}\n", flags.output, std::strerror(errno));
      throw CLI::RuntimeError(1);
    }
  }
  if (!flags.live) std::setvbuf(out, nullptr, _IOFBF, 1 << 20);

  StopOnSignal stop_on_signal;
  generate::Generator generator(options);
  if (flags.live) {
    generator.restart_clock(now_ms());
    spdlog::info("live: {} restaurants, {} tables, ≈{} events/s{}", options.restaurants,
                 generator.stats().tables, options.target_rate,
                 options.max_events > 0 ? fmt::format(", {} events", options.max_events) : "");
  }
  const auto started = std::chrono::steady_clock::now();
  bool write_failed = false;
  while (!g_stop) {
    auto line = generator.next_line();
    if (!line) break;
    if (flags.live) {
      wait_until(line->emit_ms);
      if (g_stop) break;
    }
    if (producer) {
      // Keyed by restaurant: its events stay in order within one partition.
      Status produced = producer->produce(flags.topic, source::event_key(line->text), line->text);
      if (!produced.ok()) {
        fmt::print(stderr, "error: {}\n", produced.error().to_string());
        write_failed = true;
        break;
      }
      continue;
    }
    std::fwrite(line->text.data(), 1, line->text.size(), out);
    std::fputc('\n', out);
    if (flags.live) std::fflush(out);
    if (std::ferror(out)) {
      write_failed = true;
      break;
    }
  }
  if (producer) {
    Status flushed = producer->flush(std::chrono::seconds(60));
    if (!flushed.ok()) {
      fmt::print(stderr, "error: {}\n", flushed.error().to_string());
      write_failed = true;
    }
  }
  if (std::fflush(out) != 0) write_failed = true;
  if (out != stdout) std::fclose(out);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto& stats = generator.stats();
  spdlog::info(
      "generated {} events in {} lines: {} duplicates, {} late, {} malformed, {} conflicts; "
      "event time {} .. {}; {:.2f} s ({:.0f} events/s){}",
      stats.events, stats.lines, stats.duplicates, stats.late, stats.malformed, stats.conflicts,
      stats.events > 0 ? format_iso_ms(stats.first_event_ms) : "-",
      stats.events > 0 ? format_iso_ms(stats.last_event_ms) : "-", seconds,
      seconds > 0 ? static_cast<double>(stats.events) / seconds : 0.0,
      g_stop ? " (interrupted)" : "");
  if (write_failed) {
    fmt::print(stderr, "error: writing {} failed\n",
               producer               ? "to Kafka topic " + flags.topic
               : flags.output.empty() ? std::string("stdout")
                                      : flags.output);
    throw CLI::RuntimeError(1);
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto flags = std::make_shared<Flags>();
  auto& o = flags->options;
  auto* command = app.add_subcommand(
      "generate", "Write a mock event stream (JSON Lines), with duplicates, late and bad lines");
  command->add_option("--restaurants", o.restaurants, "Number of restaurants")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  command
      ->add_option("--events", flags->events,
                   "Stop after N distinct valid events (noise lines come on top)")
      ->check(CLI::PositiveNumber);
  command
      ->add_option("--duration", flags->duration,
                   "Simulated span of event time, e.g. 2h (default without --events: 12h; "
                   "live: run until stopped)")
      ->check(duration_validator());
  command->add_option("--seed", o.seed, "Random seed: same seed and flags, same bytes")
      ->capture_default_str();
  command->add_option("--start", flags->start,
                      "Event time of the first instant (RFC 3339) [2026-11-24T11:00:00Z]");
  command
      ->add_option("--duplicate-rate", o.duplicate_rate,
                   "Per event: chance of an exact redelivery a bit later")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  command
      ->add_option("--late-rate", o.late_rate, "Per event: chance it is written after later events")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  command->add_option("--max-late", flags->max_late, "How late a late event is at most")
      ->capture_default_str()
      ->check(duration_validator());
  command
      ->add_option("--malformed-rate", o.malformed_rate,
                   "Per event: chance of a line that must be refused")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  command
      ->add_option("--conflict-rate", o.conflict_rate,
                   "Per event: chance of a redelivery of its event_id with other content")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  command
      ->add_option("--naive-rate", o.naive_rate,
                   "Per event: chance its timestamp has no zone (UTC wall time, as Python's "
                   "isoformat() writes it: 2026-11-24T18:03:12.345000)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  command
      ->add_option("--opaque-id-rate", o.opaque_id_rate,
                   "Per event: chance its event_id is an opaque id (evt_ and 20 base-36 "
                   "characters) instead of a UUID")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  command->add_flag("--location-fields", o.location_fields,
                    "Write location_id/location_name instead of restaurant_id/restaurant_name");
  command->add_flag("--renames", o.renames, "Rename restaurants now and then");
  command
      ->add_option("--rename-every", flags->rename_every,
                   "Mean time between renames of one restaurant (with --renames)")
      ->capture_default_str()
      ->check(duration_validator());
  command->add_flag("--no-rush", flags->no_rush,
                    "No lunch/dinner peaks: restaurants are full all day");
  command->add_option("--kafka", flags->kafka,
                      "Produce to Kafka brokers (host:port,...) instead of writing lines; each "
                      "message is one line, keyed by restaurant");
  command->add_option("--topic", flags->topic, "The Kafka topic (with --kafka)");
  command->add_option("--kafka-property", flags->kafka_properties,
                      "A librdkafka property NAME=VALUE (env:VAR reads the environment)");
  command->add_option("--output,-o", flags->output,
                      "Write to FILE (truncated; appended in --live mode) instead of stdout");
  command->add_flag("--live", flags->live,
                    "Real time: event time is now, lines paced and flushed one by one");
  command
      ->add_option("--rate", flags->rate,
                   "Events per second at full service: restaurants get tables to match "
                   "(live default: 50; bulk default: 12-30 tables per restaurant)")
      ->check(CLI::Range(0.001, 5000.0));
  command->callback([flags] { run(*flags); });
}

}  // namespace tp::cli
