#include "generate/simulation.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace tp::generate {
namespace {

// How parties behave; the delays are uniform within the bounds written where they are drawn.
constexpr double kWalkoutChance = 0.04;         // leave after being seated, before ordering
constexpr double kNeverCompletesChance = 0.03;  // the kitchen loses the order
constexpr double kSecondRoundChance = 0.25;     // a new order (desserts, drinks) after the first
constexpr double kDineAndDashChance = 0.02;     // completed orders never paid
// Measured with rush_hours = false (saturated tables): a table turns every ≈ 63 minutes and a
// party yields ≈ 4.5 events. Used to size restaurants for a target event rate.
constexpr double kTableCycleMs = 63.0 * kMinute;
constexpr double kEventsPerParty = 4.5;
// Arrivals at the peak exceed what the tables can serve, so parties queue (then give up).
constexpr double kPeakLoad = 1.3;
// How much simulated-but-unwritten history a warm start runs through before start_ms.
constexpr int64_t kWarmHistoryMs = 30 * kMinute;

constexpr std::array<std::string_view, 16> kRestaurantNames = {
    "Pulse Downtown", "Pulse Harbor",     "Pulse Midtown",  "Pulse Riverside",
    "Pulse Café",     "Pulse Old Town",   "Pulse Airport",  "Pulse Uptown",
    "Pulse Garden",   "Pulse Station",    "Pulse Seaside",  "Pulse Market Hall",
    "Pulse Lakeside", "Pulse University", "Pulse Westside", "Pulse Eastgate"};
constexpr std::array<std::string_view, 6> kRenameSuffixes = {" Grill", " Bistro",  " Kitchen",
                                                             " & Bar", " Express", " Brasserie"};
constexpr std::array<int, 8> kTaxBasisPoints = {800, 825, 850, 875, 900, 925, 950, 1000};

// The items of one category in menu order, with their cumulative weights (for weighted picks).
struct CategoryIndex {
  std::array<uint8_t, kMenuSize> items{};
  std::array<int64_t, kMenuSize> cumulative{};
  size_t count = 0;
  int64_t total = 0;
};

constexpr std::array<CategoryIndex, kCategoryCount> index_categories() {
  std::array<CategoryIndex, kCategoryCount> categories{};
  for (size_t i = 0; i < kMenuSize; ++i) {
    CategoryIndex& cat = categories[kMenu[i].category];
    cat.total += kMenu[i].weight;
    cat.items[cat.count] = static_cast<uint8_t>(i);
    cat.cumulative[cat.count] = cat.total;
    ++cat.count;
  }
  return categories;
}
constexpr std::array<CategoryIndex, kCategoryCount> kCategories = index_categories();

// Picks a menu item of `category`, weighted by popularity.
uint8_t pick_item(Rng& rng, Category category) {
  const CategoryIndex& cat = kCategories[category];
  const int64_t roll = rng.range(0, cat.total - 1);
  for (size_t i = 0; i < cat.count; ++i) {
    if (roll < cat.cumulative[i]) return cat.items[i];
  }
  return cat.items[cat.count - 1];
}

int digits_of(int64_t value) { return static_cast<int>(fmt::format_int(value).size()); }

// A sink for the warm start's history, which yields no events (they are before start_ms).
class NoSink final : public EventSink {
 public:
  void on_clock(int64_t) override {}
  void on_event(SimEvent&) override {}
};

}  // namespace

void fill_order(Rng& rng, Items& order, int size, int round) {
  order.lines = 0;
  auto add = [&](Category category) {
    const uint8_t item = pick_item(rng, category);
    for (uint8_t i = 0; i < order.lines; ++i) {
      if (order.item[i] == item) {
        ++order.qty[i];
        return;
      }
    }
    order.item[order.lines] = item;
    order.qty[order.lines] = 1;
    ++order.lines;
  };
  if (round == 0) {
    for (int person = 0; person < size; ++person) {
      if (rng.chance(0.85)) add(kDrinks);
      if (rng.chance(0.92)) add(kMains);
      if (rng.chance(0.30)) add(kSides);
      if (rng.chance(0.06)) add(kDesserts);
    }
    for (int i = 0; i < (size + 1) / 2; ++i) {
      if (rng.chance(0.55)) add(kStarters);
    }
    if (order.lines == 0) add(kMains);
  } else {
    for (int person = 0; person < size; ++person) {
      if (rng.chance(0.6)) add(kDesserts);
      if (rng.chance(0.5)) add(kDrinks);
    }
    if (order.lines == 0) add(kDrinks);
  }
  order.subtotal_cents = 0;
  for (uint8_t i = 0; i < order.lines; ++i) {
    order.subtotal_cents += order.qty[i] * kMenu[order.item[i]].price_cents;
  }
}

Simulation::Simulation(const GeneratorOptions& options) : options_(options), rng_(options.seed) {
  end_ms_ = options.duration_ms > 0 ? options.start_ms + options.duration_ms : 0;
  build_restaurants();
  // A warm start's unwritten history runs now, so that the first event comes quickly.
  NoSink history;
  while (!actions_.empty() && actions_.top().t < options_.start_ms) step(history);
}

void Simulation::build_restaurants() {
  const int n = options_.restaurants;
  const int width = std::max(3, digits_of(n));
  restaurants_.resize(static_cast<size_t>(n));
  floors_.resize(static_cast<size_t>(n));
  tables_ = 0;
  for (int i = 0; i < n; ++i) {
    Restaurant& r = restaurants_[static_cast<size_t>(i)];
    Floor& floor = floors_[static_cast<size_t>(i)];
    r.number = fmt::format("{:0{}}", i + 1, width);
    r.id = "r-" + r.number;
    const auto base = kRestaurantNames[static_cast<size_t>(i) % kRestaurantNames.size()];
    const size_t cycle = static_cast<size_t>(i) / kRestaurantNames.size();
    floor.base_name = cycle == 0 ? std::string(base) : fmt::format("{} {}", base, cycle + 1);
    r.name = floor.base_name;
    if (options_.target_rate > 0) {
      const double per_table = kEventsPerParty * 1000.0 / kTableCycleMs;  // events/s
      floor.tables =
          std::max(4, static_cast<int>(std::ceil(options_.target_rate / n / per_table)));
    } else {
      floor.tables = static_cast<int>(rng_.range(12, 30));
    }
    tables_ += floor.tables;
    r.table_width = std::max(2, digits_of(floor.tables));
    r.servers = std::max(2, floor.tables / 5 + static_cast<int>(rng_.range(0, 2)));
    r.tax_bp = kTaxBasisPoints[static_cast<size_t>(rng_.range(0, kTaxBasisPoints.size() - 1))];
    floor.arrivals_per_ms = kPeakLoad * floor.tables / kTableCycleMs;
    floor.waiting_cap = static_cast<size_t>(std::max(4, floor.tables / 3));
    floor.free_tables.reserve(static_cast<size_t>(floor.tables));
    for (int t = floor.tables - 1; t >= 0; --t) floor.free_tables.push_back(t);
  }
  for (int i = 0; i < n; ++i) {
    Floor& floor = floors_[static_cast<size_t>(i)];
    // Warm start: every table got a party up to one cycle before a 30-minute history that is
    // simulated but not written, so the stream opens in steady state (rate, wait times).
    int64_t opens = options_.start_ms;
    if (options_.warm_start) {
      opens = options_.start_ms - kWarmHistoryMs;
      while (!floor.free_tables.empty()) {
        const int32_t party = new_party(i);
        seat(party, take_table(floor), opens - rng_.range(0, static_cast<int64_t>(kTableCycleMs)));
      }
    }
    schedule(opens + static_cast<int64_t>(rng_.exponential(1.0 / floor.arrivals_per_ms)), i,
             Act::kArrival);
    if (options_.renames) {
      schedule(options_.start_ms + static_cast<int64_t>(rng_.exponential(
                                       static_cast<double>(options_.rename_every_ms))),
               i, Act::kRename);
    }
  }
}

void Simulation::schedule(int64_t t, int32_t id, Act act, uint8_t round) {
  actions_.push(Action{t, action_seq_++, id, act, round});
}

int32_t Simulation::new_party(int restaurant) {
  int32_t index;
  if (!free_parties_.empty()) {
    index = free_parties_.back();
    free_parties_.pop_back();
  } else {
    index = static_cast<int32_t>(parties_.size());
    parties_.emplace_back();
  }
  Party& p = parties_[static_cast<size_t>(index)];
  p.restaurant = restaurant;
  p.outstanding = 0;
  p.round_pending = false;
  p.orders[0].completed_ms = -1;
  p.orders[0].seq = 0;
  p.orders[1].completed_ms = -1;
  p.orders[1].seq = 0;
  const double u = rng_.uniform();
  static constexpr std::array<double, 8> kSizeCdf = {0.10, 0.42, 0.56, 0.80,
                                                     0.87, 0.94, 0.97, 1.0};
  p.size = 8;
  for (size_t s = 0; s < kSizeCdf.size(); ++s) {
    if (u < kSizeCdf[s]) {
      p.size = static_cast<uint8_t>(s + 1);
      break;
    }
  }
  return index;
}

int32_t Simulation::take_table(Floor& floor) {
  const size_t pick =
      static_cast<size_t>(rng_.range(0, static_cast<int64_t>(floor.free_tables.size()) - 1));
  const int32_t table = floor.free_tables[pick];
  floor.free_tables[pick] = floor.free_tables.back();
  floor.free_tables.pop_back();
  return table;
}

// Arrival intensity relative to the peak: lunch and dinner rush (hours taken as UTC).
double Simulation::rush_factor(int64_t t) const {
  if (!options_.rush_hours) return 1.0;
  const double hour = static_cast<double>(((t % kDay) + kDay) % kDay) / kHour;
  auto bump = [hour](double centre, double width) {
    const double z = (hour - centre) / width;
    return std::exp(-0.5 * z * z);
  };
  return std::min(1.0, 0.2 + 0.8 * bump(12.75, 1.2) + 0.85 * bump(19.5, 1.6));
}

void Simulation::on_arrival(int32_t ri, int64_t t) {
  Floor& floor = floors_[static_cast<size_t>(ri)];
  schedule(t + 1 + static_cast<int64_t>(rng_.exponential(1.0 / floor.arrivals_per_ms)), ri,
           Act::kArrival);
  if (!rng_.chance(rush_factor(t))) return;
  // A full restaurant with a full queue: they go elsewhere.
  if (floor.free_tables.empty() && floor.waiting.size() >= floor.waiting_cap) return;
  const int32_t party = new_party(ri);
  if (floor.free_tables.empty()) {
    floor.waiting.push_back(party);
  } else {
    seat(party, take_table(floor), t);
  }
}

void Simulation::seat(int32_t pi, int32_t table, int64_t t) {
  Party& p = parties_[static_cast<size_t>(pi)];
  const Restaurant& r = restaurants_[static_cast<size_t>(p.restaurant)];
  p.table = table;
  p.server = static_cast<int32_t>(rng_.range(0, r.servers - 1));
  if (should_emit(t)) {
    SimEvent ev = base_event(EventType::kTableSeated, t, p);
    ev.party_size = p.size;
    emit(ev);
  }
  if (rng_.chance(kWalkoutChance)) {
    schedule(t + rng_.range(4 * kMinute, 20 * kMinute), pi, Act::kLeave);
  } else {
    schedule(t + rng_.range(3 * kMinute, 15 * kMinute), pi, Act::kPlace, 0);
  }
}

void Simulation::on_place(int32_t pi, uint8_t round, int64_t t) {
  Party& p = parties_[static_cast<size_t>(pi)];
  Restaurant& r = restaurants_[static_cast<size_t>(p.restaurant)];
  Order& order = p.orders[round];
  fill_order(rng_, placed_items_, p.size, round);
  order.subtotal_cents = placed_items_.subtotal_cents;
  order.seq = ++r.next_order;
  order.placed_ms = t;
  order.completed_ms = -1;
  ++p.outstanding;
  p.round_pending = false;
  if (should_emit(t)) {
    SimEvent ev = base_event(EventType::kOrderPlaced, t, p);
    ev.order_seq = order.seq;
    ev.items = &placed_items_;
    ev.subtotal = order.subtotal_cents;
    emit(ev);
  }
  if (rng_.chance(kNeverCompletesChance)) {
    schedule(t + rng_.range(40 * kMinute, 60 * kMinute), pi, Act::kAbandon, round);
  } else {
    // 8 to 30 minutes, most often around 19.
    const double spread = (rng_.uniform() + rng_.uniform()) / 2.0;
    schedule(t + 8 * kMinute + static_cast<int64_t>(spread * 22.0 * kMinute), pi, Act::kComplete,
             round);
  }
}

void Simulation::on_complete(int32_t pi, uint8_t round, int64_t t) {
  Party& p = parties_[static_cast<size_t>(pi)];
  Order& order = p.orders[round];
  order.completed_ms = t;
  --p.outstanding;
  // The kitchen's own clock: the elapsed time with a little noise, in tenths of a minute.
  const double minutes = static_cast<double>(t - order.placed_ms) / kMinute + rng_.normal() * 0.25;
  const int64_t tenths = std::max<int64_t>(0, std::llround(minutes * 10.0));
  if (should_emit(t)) {
    SimEvent ev = base_event(EventType::kOrderCompleted, t, p);
    ev.order_seq = order.seq;
    ev.kitchen_tenths = tenths;
    emit(ev);
  }
  if (round == 0 && rng_.chance(kSecondRoundChance)) {
    p.round_pending = true;
    schedule(t + rng_.range(5 * kMinute, 20 * kMinute), pi, Act::kPlace, 1);
    return;
  }
  maybe_check_out(pi, t);
}

void Simulation::on_abandon(int32_t pi, int64_t t) {
  --parties_[static_cast<size_t>(pi)].outstanding;
  maybe_check_out(pi, t);
}

// Once nothing is cooking and no round is coming, the party asks for the bill (or leaves).
void Simulation::maybe_check_out(int32_t pi, int64_t t) {
  const Party& p = parties_[static_cast<size_t>(pi)];
  if (p.outstanding > 0 || p.round_pending) return;
  if (p.orders[0].completed_ms >= 0 || p.orders[1].completed_ms >= 0) {
    schedule(t + rng_.range(5 * kMinute, 40 * kMinute), pi, Act::kCheckout);
  } else {
    schedule(t + rng_.range(1 * kMinute, 5 * kMinute), pi, Act::kLeave);
  }
}

void Simulation::on_checkout(int32_t pi, int64_t t) {
  const Party& p = parties_[static_cast<size_t>(pi)];
  int64_t at = t;
  if (!rng_.chance(kDineAndDashChance)) {
    // One payment per completed order (a check per order), a few seconds apart.
    for (uint8_t round = 0; round < 2; ++round) {
      if (p.orders[round].seq == 0 || p.orders[round].completed_ms < 0) continue;
      schedule(at, pi, Act::kPay, round);
      at += rng_.range(5 * kSecond, 45 * kSecond);
    }
  }
  schedule(at + rng_.range(2 * kMinute, 8 * kMinute), pi, Act::kLeave);
}

void Simulation::on_pay(int32_t pi, uint8_t round, int64_t t) {
  const Party& p = parties_[static_cast<size_t>(pi)];
  const Restaurant& r = restaurants_[static_cast<size_t>(p.restaurant)];
  const Order& order = p.orders[round];
  const int64_t subtotal = order.subtotal_cents;
  const int64_t tax = std::llround(static_cast<double>(subtotal) * r.tax_bp / 10000.0);
  const double tip_share = rng_.chance(0.08) ? 0.0 : 0.08 + 0.17 * rng_.uniform();
  const int64_t tip = std::llround(static_cast<double>(subtotal) * tip_share);
  const double method_roll = rng_.uniform();
  const std::string_view method = method_roll < 0.45   ? "credit_card"
                                  : method_roll < 0.65 ? "debit_card"
                                  : method_roll < 0.80 ? "cash"
                                  : method_roll < 0.95 ? "mobile_payment"
                                                       : "gift_card";
  if (should_emit(t)) {
    SimEvent ev = base_event(EventType::kPayment, t, p);
    ev.order_seq = order.seq;
    ev.subtotal = subtotal;
    ev.tax = tax;
    ev.tip = tip;
    ev.method = method;
    emit(ev);
  }
}

void Simulation::on_leave(int32_t pi, int64_t t) {
  const Party& p = parties_[static_cast<size_t>(pi)];
  Floor& floor = floors_[static_cast<size_t>(p.restaurant)];
  const int32_t table = p.table;
  free_parties_.push_back(pi);
  if (!floor.waiting.empty()) {
    const int32_t next = floor.waiting.front();
    floor.waiting.pop_front();
    seat(next, table, t);
  } else {
    floor.free_tables.push_back(table);
  }
}

void Simulation::on_rename(int32_t ri, int64_t t) {
  Restaurant& r = restaurants_[static_cast<size_t>(ri)];
  Floor& floor = floors_[static_cast<size_t>(ri)];
  ++floor.renames;
  r.name = floor.base_name +
           std::string(kRenameSuffixes[static_cast<size_t>(floor.renames - 1) %
                                       kRenameSuffixes.size()]);
  schedule(
      t + kMinute +
          static_cast<int64_t>(rng_.exponential(static_cast<double>(options_.rename_every_ms))),
      ri, Act::kRename);
}

void Simulation::step(EventSink& sink) {
  if (actions_.empty()) {
    finished_ = true;
    return;
  }
  const Action a = actions_.top();
  if (end_ms_ > 0 && a.t >= end_ms_) {
    finished_ = true;
    return;
  }
  actions_.pop();
  now_ = a.t;
  sink_ = &sink;
  sink.on_clock(now_);
  switch (a.act) {
    case Act::kArrival:
      on_arrival(a.id, a.t);
      break;
    case Act::kPlace:
      on_place(a.id, a.round, a.t);
      break;
    case Act::kComplete:
      on_complete(a.id, a.round, a.t);
      break;
    case Act::kAbandon:
      on_abandon(a.id, a.t);
      break;
    case Act::kCheckout:
      on_checkout(a.id, a.t);
      break;
    case Act::kPay:
      on_pay(a.id, a.round, a.t);
      break;
    case Act::kLeave:
      on_leave(a.id, a.t);
      break;
    case Act::kRename:
      on_rename(a.id, a.t);
      break;
  }
  sink_ = nullptr;
}

SimEvent Simulation::base_event(EventType type, int64_t t, const Party& p) const {
  SimEvent ev;
  ev.type = type;
  ev.t = t;
  ev.restaurant = &restaurants_[static_cast<size_t>(p.restaurant)];
  ev.table = p.table;
  ev.server = p.server;
  return ev;
}

}  // namespace tp::generate
