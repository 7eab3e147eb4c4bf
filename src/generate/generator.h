#pragma once
// The mock point-of-sale stream: a seeded simulation of restaurants (parties seated, orders,
// kitchen, payments: simulation.h) whose events are written as JSON lines in the exercise
// brief's format (docs/EVENTS.md) or the spellings real producers use, zone-less timestamps,
// opaque ids, location_* fields (wire.h), with the noise a real feed has: redeliveries, late
// lines, refused lines, conflicting redeliveries (noise.h). This header is what callers use;
// generator.cpp composes the pieces and orders the lines in time.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "decode/reasons.h"

namespace tp::generate {

// 2026-11-24T11:00:00Z: a fixed default start keeps the output a function of the options only.
inline constexpr int64_t kDefaultStartMs = 1795518000000;

// What to simulate. The valid events (ids and contents) depend only on seed, start_ms,
// restaurants, renames, rename_every_ms, rush_hours, target_rate and warm_start, and how they are
// spelled on naive_rate, opaque_id_rate and location_fields (drawn from the id stream, the same
// draws whatever the rates, so one spelling option changes nothing but its own spelling); the
// noise rates only add lines on top (their own random stream), so a noisy file deduplicates to
// the clean one.
struct GeneratorOptions {
  int restaurants = 5;                 // r-001 … r-NNN
  int64_t max_events = 0;              // stop after this many distinct valid events; 0 = no limit
  int64_t duration_ms = 0;             // stop at start_ms + duration (event time); 0 = no limit
  uint64_t seed = 1;                   // same options and seed ⇒ byte-identical lines
  int64_t start_ms = kDefaultStartMs;  // event time at which the stream begins (UTC epoch ms)
  double duplicate_rate = 0.02;        // per event: chance of an exact redelivery a bit later
  double late_rate = 0.01;             // per event: chance it is emitted up to max_late_ms late
  int64_t max_late_ms = 600'000;       // 10 min: how far behind event time a late line may be
  double malformed_rate = 0.005;       // per event: chance of a line that must be refused after it
  double conflict_rate = 0.0;          // per event: chance of a redelivery with different content
  bool renames = false;                // restaurants change name now and then
  int64_t rename_every_ms = 86'400'000;  // 1 day: mean time between renames of one restaurant
  bool rush_hours = true;   // lunch/dinner peaks by UTC hour; false = always busy (saturated)
  double target_rate = 0;   // >0: size restaurants (tables) so that ≈ this many events/s flow
  bool warm_start = false;  // begin mid-service (tables occupied) instead of empty at opening
  // Per valid event: chance its timestamp has no zone ("2026-11-24T18:03:12.345000", UTC wall
  // time as Python's isoformat() writes it), which consumers read in their default zone.
  double naive_rate = 0;
  // Per valid event: chance its event_id is an opaque "evt_…" id instead of a UUID (the contract
  // accepts any non-empty id; producers that are not UUID-based exist).
  double opaque_id_rate = 0;
  // location_id/location_name instead of restaurant_id/restaurant_name: a later revision of the
  // exercise uses those names and consumers accept both spellings.
  bool location_fields = false;
};

// Returns an error message for options the generator cannot honour, or "" if they are fine.
std::string check_options(const GeneratorOptions& options);

// Why a line is in the stream: tests and summaries tell the noise from the events.
enum class LineKind : uint8_t {
  kEvent,      // a valid event, emitted at its event time
  kLate,       // a valid event emitted after later events (its first delivery)
  kDuplicate,  // a byte-identical copy of an earlier line
  kConflict,   // an earlier event_id again, with different content
  kMalformed,  // a line a consumer must refuse
};

// "event", "late", "duplicate", "conflict", "malformed".
std::string_view line_kind_name(LineKind kind);

// One output line (no trailing newline). `text` stays valid until the next call to next_line().
struct Line {
  std::string_view text;
  int64_t emit_ms = 0;  // when a live stream should write it (simulated clock, epoch ms)
  LineKind kind = LineKind::kEvent;
  // kMalformed only: the reason code a consumer must refuse the line with, so tests can check it.
  std::optional<decode::Reason> expected_reason;
};

// Counts of what was emitted so far; `events` counts each valid event once.
struct GeneratorStats {
  int64_t lines = 0;
  int64_t events = 0;  // distinct valid events (kEvent + kLate lines)
  int64_t late = 0;
  int64_t duplicates = 0;
  int64_t conflicts = 0;
  int64_t malformed = 0;
  int64_t first_event_ms = 0;  // event time of the first valid event (0 when none)
  int64_t last_event_ms = 0;   // event time of the latest valid event
  int tables = 0;              // tables over all restaurants (sizing, for live mode)
};

// A pull-based generator: benchmarks and tests call next_line() in a loop; the CLI writes lines.
class Generator {
 public:
  explicit Generator(const GeneratorOptions& options);
  ~Generator();
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // The next line in file order, or nullopt once max_events/duration is reached and the late
  // and redelivered lines still held back have been flushed.
  std::optional<Line> next_line();

  // Makes the stream begin at `start_ms` instead of options.start_ms (all written times move by
  // the difference). Live mode calls it once the set-up (a warm start) is done, with now, so
  // that the first timestamps are not behind the wall clock. Call before the first next_line().
  void restart_clock(int64_t start_ms);

  const GeneratorStats& stats() const;
  const GeneratorOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs a generator to the end, calling on_line(const Line&) for each line; returns the stats.
template <typename OnLine>
GeneratorStats generate_all(const GeneratorOptions& options, OnLine&& on_line) {
  Generator generator(options);
  while (auto line = generator.next_line()) on_line(*line);
  return generator.stats();
}

}  // namespace tp::generate
