#include "generate/generator.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "generate/noise.h"
#include "generate/random.h"
#include "generate/simulation.h"
#include "generate/wire.h"

namespace tp::generate {
namespace {

// Seed of the event_id stream: every option that shapes the events is in it, so two streams
// that differ (another start, more restaurants) never share an event_id.
uint64_t id_seed(const GeneratorOptions& o) {
  uint64_t seed = mix(o.seed, 0x5eedULL);
  seed = mix(seed, static_cast<uint64_t>(o.start_ms));
  seed = mix(seed, static_cast<uint64_t>(o.restaurants));
  seed = mix(seed, (o.renames ? 1 : 0) + (o.rush_hours ? 2 : 0) + (o.warm_start ? 4 : 0));
  seed = mix(seed, static_cast<uint64_t>(o.rename_every_ms));
  return mix(seed, static_cast<uint64_t>(std::llround(o.target_rate * 1000)));
}

// A line held back: a late delivery or a redelivery, written once the clock reaches emit_ms.
struct Pending {
  int64_t emit_ms;
  uint64_t seq;
  std::string text;
  LineKind kind;
};

struct PendingLater {
  bool operator()(const Pending& a, const Pending& b) const {
    return a.emit_ms != b.emit_ms ? a.emit_ms > b.emit_ms : a.seq > b.seq;
  }
};

// A line ready to be returned by next_line(), in the output ring.
struct Slot {
  std::string text;
  int64_t emit_ms = 0;
  LineKind kind = LineKind::kEvent;
  std::optional<decode::Reason> expected_reason;  // kMalformed only
};

}  // namespace

std::string check_options(const GeneratorOptions& o) {
  if (o.restaurants < 1 || o.restaurants > 100000) return "restaurants must be 1 to 100000";
  if (o.max_events < 0) return "max_events must be >= 0";
  if (o.duration_ms < 0) return "duration must be >= 0";
  for (double rate : {o.duplicate_rate, o.late_rate, o.malformed_rate, o.conflict_rate,
                      o.naive_rate, o.opaque_id_rate}) {
    if (!(rate >= 0.0 && rate <= 1.0)) return "rates must be between 0 and 1";
  }
  if (o.max_late_ms < 1) return "max_late must be positive";
  if (o.rename_every_ms < kMinute) return "rename_every must be at least 1 minute";
  // Tables scale with the rate (≈ 840 per event/s): 5000/s already holds ≈ 600 MB.
  if (!(o.target_rate >= 0.0 && o.target_rate <= 5000)) return "target_rate must be 0 to 5000";
  if (o.start_ms < 0 || o.start_ms >= 4102444800000LL) return "start must be in 1970..2100";
  return "";
}

std::string_view line_kind_name(LineKind kind) {
  switch (kind) {
    case LineKind::kEvent:
      return "event";
    case LineKind::kLate:
      return "late";
    case LineKind::kDuplicate:
      return "duplicate";
    case LineKind::kConflict:
      return "conflict";
    case LineKind::kMalformed:
      return "malformed";
  }
  return "unknown";
}

// The composition: the simulation's events get an id and a spelling (wire.h), are written, and
// go out with the noise decided for them (noise.h), through a queue that holds the late lines
// and redeliveries back until the clock reaches them.
struct Generator::Impl final : EventSink {
  explicit Impl(const GeneratorOptions& o)
      : options(o), ids(id_seed(o)), noise(o), wire(o.location_fields), sim(o) {
    stats.tables = sim.tables();
    ring.resize(64);
  }

  void on_clock(int64_t now) override { flush_pending(now + shift); }

  // Writes a valid event and the noise that goes with it.
  void on_event(SimEvent& ev) override {
    ev.t += shift;  // output time
    choose_spelling(ids, options.naive_rate, options.opaque_id_rate, ev);
    wire.write(ev, 0, line);
    ++stats.events;
    if (stats.first_event_ms == 0) stats.first_event_ms = ev.t;
    stats.last_event_ms = std::max(stats.last_event_ms, ev.t);
    const Delivery delivery = noise.decide();
    int64_t emitted_at = ev.t;
    if (delivery.late) {
      emitted_at = ev.t + delivery.late_by_ms;
      hold(view(line), emitted_at, LineKind::kLate);
      ++stats.late;
    } else {
      push_ready(view(line), ev.t, LineKind::kEvent);
    }
    if (delivery.duplicate) {
      hold(view(line), emitted_at + delivery.duplicate_after_ms, LineKind::kDuplicate);
      ++stats.duplicates;
    }
    if (delivery.conflict) {
      wire.write(ev, 1, scratch);
      hold(view(scratch), emitted_at + delivery.conflict_after_ms, LineKind::kConflict);
      ++stats.conflicts;
    }
    if (delivery.malformed) {
      const Malformed bad = noise.malformed(ev, wire);
      push_ready(bad.text, ev.t, LineKind::kMalformed, bad.reason);
      ++stats.malformed;
    }
    if (options.max_events > 0 && stats.events >= options.max_events) sim.finish();
  }

  static std::string_view view(const fmt::memory_buffer& buffer) {
    return {buffer.data(), buffer.size()};
  }

  // ---- output queue ----

  void hold(std::string_view text, int64_t emit_ms, LineKind kind) {
    pending.push_back(Pending{emit_ms, pending_seq++, std::string(text), kind});
    std::push_heap(pending.begin(), pending.end(), PendingLater{});
  }

  // Moves the held lines due at or before `t` to the output, in due order.
  void flush_pending(int64_t t) {
    while (!pending.empty() && pending.front().emit_ms <= t) release_first_pending();
  }

  void release_first_pending() {
    std::pop_heap(pending.begin(), pending.end(), PendingLater{});
    Pending& p = pending.back();
    ring_slot(p.emit_ms, p.kind).text.swap(p.text);
    pending.pop_back();
  }

  void push_ready(std::string_view text, int64_t emit_ms, LineKind kind,
                  std::optional<decode::Reason> expected_reason = std::nullopt) {
    flush_pending(emit_ms);
    Slot& slot = ring_slot(emit_ms, kind);
    slot.text.assign(text.data(), text.size());
    slot.expected_reason = expected_reason;
  }

  Slot& ring_slot(int64_t emit_ms, LineKind kind) {
    if (ring_count == ring.size()) {
      std::vector<Slot> bigger(ring.size() * 2);
      for (size_t i = 0; i < ring_count; ++i) {
        bigger[i] = std::move(ring[(ring_head + i) & (ring.size() - 1)]);
      }
      ring.swap(bigger);
      ring_head = 0;
    }
    Slot& slot = ring[(ring_head + ring_count) & (ring.size() - 1)];
    ++ring_count;
    slot.emit_ms = emit_ms;
    slot.kind = kind;
    slot.expected_reason.reset();
    return slot;
  }

  std::optional<Line> next_line() {
    while (ring_count == 0) {
      if (sim.finished()) {
        if (pending.empty()) return std::nullopt;
        // The end: what is still held back goes out now rather than at its due time.
        std::pop_heap(pending.begin(), pending.end(), PendingLater{});
        Pending& p = pending.back();
        Slot& slot =
            ring_slot(std::min(p.emit_ms, std::max(sim.now() + shift, last_emit)), p.kind);
        slot.text.swap(p.text);
        pending.pop_back();
        break;
      }
      sim.step(*this);
    }
    Slot& slot = ring[ring_head];
    ring_head = (ring_head + 1) & (ring.size() - 1);
    --ring_count;
    ++stats.lines;
    last_emit = std::max(last_emit, slot.emit_ms);
    return Line{slot.text, slot.emit_ms, slot.kind, slot.expected_reason};
  }

  GeneratorOptions options;
  GeneratorStats stats;
  Rng ids;  // event_ids of valid events and how each is spelled (zone, id form)
  Noise noise;
  Wire wire;
  Simulation sim;     // constructed last: a warm start runs its history in the constructor
  int64_t shift = 0;  // output time minus simulated time (see Generator::restart_clock)
  int64_t last_emit = 0;
  fmt::memory_buffer line;
  fmt::memory_buffer scratch;
  std::vector<Pending> pending;
  uint64_t pending_seq = 0;
  std::vector<Slot> ring;
  size_t ring_head = 0;
  size_t ring_count = 0;
};

Generator::Generator(const GeneratorOptions& options) : impl_(std::make_unique<Impl>(options)) {}
Generator::~Generator() = default;

std::optional<Line> Generator::next_line() { return impl_->next_line(); }
void Generator::restart_clock(int64_t start_ms) {
  impl_->shift = start_ms - impl_->options.start_ms;
}
const GeneratorStats& Generator::stats() const { return impl_->stats; }
const GeneratorOptions& Generator::options() const { return impl_->options; }

}  // namespace tp::generate
