#include "generate/generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>
#include <queue>
#include <vector>

#include "common/time.h"
#include "decode/event.h"

namespace tp::generate {
namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

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

// splitmix64 step: seeds the generators and mixes option values into a seed.
uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t mix(uint64_t seed, uint64_t value) {
  uint64_t state = seed ^ (value * 0xd6e8feb86659fd93ULL);
  return splitmix(state);
}

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

// xoshiro256**: fast, and the same sequence on every platform (std distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& word : s_) word = splitmix(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool chance(double p) { return uniform() < p; }
  // Uniform integer in [lo, hi].
  int64_t range(int64_t lo, int64_t hi) {
    __extension__ using U128 = unsigned __int128;
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>((static_cast<U128>(next()) * span) >> 64);
  }
  double normal() {
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  double exponential(double mean) { return -mean * std::log(1.0 - uniform()); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

enum Category : uint8_t { kStarters, kMains, kSides, kDesserts, kDrinks, kCategoryCount };
constexpr std::array<std::string_view, kCategoryCount> kCategoryNames = {
    "starters", "mains", "sides", "desserts", "drinks"};

struct MenuItem {
  std::string_view id;
  std::string_view name;
  Category category;
  int64_t price_cents;
  int weight;  // popularity within the category: makes top-items uneven
};

constexpr std::array<MenuItem, 33> kMenu = {{
    {"m-wings", "Buffalo Wings", kStarters, 1150, 30},
    {"m-nachos", "Loaded Nachos", kStarters, 1075, 22},
    {"m-calamari", "Fried Calamari", kStarters, 1225, 14},
    {"m-soup", "Soup of the Day", kStarters, 695, 12},
    {"m-bruschetta", "Tomato Bruschetta", kStarters, 850, 10},
    {"m-caesar", "Caesar Salad", kStarters, 925, 18},
    {"m-burger", "Classic Burger", kMains, 1450, 40},
    {"m-cheeseburger", "Double Cheeseburger", kMains, 1675, 22},
    {"m-steak", "Ribeye Steak", kMains, 2990, 12},
    {"m-salmon", "Grilled Salmon", kMains, 2340, 14},
    {"m-carbonara", "Pasta Carbonara", kMains, 1580, 18},
    {"m-pizza", "Margherita Pizza", kMains, 1325, 26},
    {"m-chicken", "Roast Chicken", kMains, 1760, 10},
    {"m-tacos", "Fish Tacos", kMains, 1495, 9},
    {"m-risotto", "Mushroom Risotto", kMains, 1620, 7},
    {"m-fish-chips", "Fish & Chips", kMains, 1545, 15},
    {"m-fries", "French Fries", kSides, 450, 40},
    {"m-sweet-fries", "Sweet Potato Fries", kSides, 525, 18},
    {"m-onion-rings", "Onion Rings", kSides, 575, 15},
    {"m-coleslaw", "Coleslaw", kSides, 395, 6},
    {"m-garlic-bread", "Garlic Bread", kSides, 485, 21},
    {"m-cheesecake", "New York Cheesecake", kDesserts, 795, 25},
    {"m-brownie", "Chocolate Brownie", kDesserts, 650, 30},
    {"m-tiramisu", "Tiramisù", kDesserts, 725, 16},
    {"m-ice-cream", "Ice Cream Trio", kDesserts, 590, 18},
    {"m-creme-brulee", "Crème Brûlée", kDesserts, 810, 11},
    {"m-cola", "Cola", kDrinks, 325, 40},
    {"m-lemonade", "Fresh Lemonade", kDrinks, 395, 16},
    {"m-iced-tea", "Iced Tea", kDrinks, 310, 14},
    {"m-beer", "Draft Beer", kDrinks, 650, 30},
    {"m-wine", "House Red Wine", kDrinks, 875, 14},
    {"m-espresso", "Espresso", kDrinks, 280, 18},
    {"m-sparkling", "Sparkling Water", kDrinks, 295, 12},
}};
constexpr size_t kMenuSize = kMenu.size();

constexpr std::array<std::string_view, 16> kRestaurantNames = {
    "Pulse Downtown", "Pulse Harbor",     "Pulse Midtown",  "Pulse Riverside",
    "Pulse Café",     "Pulse Old Town",   "Pulse Airport",  "Pulse Uptown",
    "Pulse Garden",   "Pulse Station",    "Pulse Seaside",  "Pulse Market Hall",
    "Pulse Lakeside", "Pulse University", "Pulse Westside", "Pulse Eastgate"};
constexpr std::array<std::string_view, 6> kRenameSuffixes = {" Grill", " Bistro",  " Kitchen",
                                                             " & Bar", " Express", " Brasserie"};
constexpr std::array<int, 8> kTaxBasisPoints = {800, 825, 850, 875, 900, 925, 950, 1000};

// Appends money in cents as a JSON number with at most 2 decimals ("35.5", "6", "3.25").
void append_money(fmt::memory_buffer& out, int64_t cents) {
  if (cents < 0) {
    out.push_back('-');
    cents = -cents;
  }
  fmt::format_int whole(cents / 100);
  out.append(whole.data(), whole.data() + whole.size());
  const int rest = static_cast<int>(cents % 100);
  if (rest == 0) return;
  out.push_back('.');
  out.push_back(static_cast<char>('0' + rest / 10));
  if (rest % 10 != 0) out.push_back(static_cast<char>('0' + rest % 10));
}

void append(fmt::memory_buffer& out, std::string_view text) {
  out.append(text.data(), text.data() + text.size());
}

void append_int(fmt::memory_buffer& out, int64_t value) {
  fmt::format_int text(value);
  out.append(text.data(), text.data() + text.size());
}

// Appends `value` zero-padded to `width` digits.
void append_padded(fmt::memory_buffer& out, int64_t value, int width) {
  fmt::format_int text(value);
  for (int i = static_cast<int>(text.size()); i < width; ++i) out.push_back('0');
  out.append(text.data(), text.data() + text.size());
}

// Escapes a name for a JSON string (names are fixed, but a future one may hold a quote).
std::string json_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out;
}

int digits_of(int64_t value) { return static_cast<int>(fmt::format_int(value).size()); }

enum class Act : uint8_t {
  kArrival,
  kPlace,
  kComplete,
  kAbandon,
  kCheckout,
  kPay,
  kLeave,
  kRename
};

// A scheduled step of the simulation; `seq` keeps equal instants in a deterministic order.
struct Action {
  int64_t t;
  uint64_t seq;
  int32_t id;  // party index, or restaurant index for kArrival/kRename
  Act act;
  uint8_t round;
};

struct ActionLater {
  bool operator()(const Action& a, const Action& b) const {
    return a.t != b.t ? a.t > b.t : a.seq > b.seq;
  }
};

struct Restaurant {
  std::string number;  // "001": in restaurant, order and server ids
  std::string id;      // "r-001"
  std::string base_name;
  std::string name;
  std::string fields;  // ,"restaurant_id":"r-001","restaurant_name":"…" (rebuilt on rename)
  int renames = 0;
  int tables = 0;
  int table_width = 2;
  int servers = 0;
  int tax_bp = 0;
  int64_t next_order = 0;
  double arrivals_per_ms = 0;  // at the peak
  size_t waiting_cap = 0;
  std::vector<int32_t> free_tables;
  std::deque<int32_t> waiting;
};

// What a party ordered. Only the money is kept: the lines are written once, when it is placed,
// which keeps a party small (live mode at a high rate holds hundreds of thousands).
struct Order {
  int64_t seq = 0;
  int64_t placed_ms = 0;
  int64_t completed_ms = -1;  // -1 while (or if forever) not completed
  int64_t subtotal_cents = 0;
};

// The lines of the order being placed: each menu item at most once, in the order first picked.
struct Items {
  uint8_t lines = 0;
  std::array<uint8_t, kMenuSize> item{};
  std::array<uint8_t, kMenuSize> qty{};
  int64_t subtotal_cents = 0;
};

struct Party {
  int32_t restaurant = 0;
  int32_t table = 0;
  int32_t server = 0;
  uint8_t size = 0;
  uint8_t outstanding = 0;  // orders placed and not yet completed or abandoned
  bool round_pending = false;
  std::array<Order, 2> orders;
};

// The contents of one event, enough to write it again (conflicts) or corrupt it (malformed).
struct Ev {
  EventType type = EventType::kTableSeated;
  int64_t t = 0;
  const Restaurant* restaurant = nullptr;
  int32_t table = 0;
  int32_t server = 0;
  int party_size = 0;
  int64_t order_seq = 0;
  const Items* items = nullptr;  // order_placed
  int64_t kitchen_tenths = 0;
  int64_t subtotal = 0;
  int64_t tax = 0;
  int64_t tip = 0;
  std::string_view method;
  bool naive = false;  // timestamp written without a zone (UTC wall time, microsecond digits)
  uint8_t id_size = 0;
  char id[36] = {};  // event_id: a UUID (36 bytes) or an opaque "evt_" id (24 bytes)
};

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

struct Slot {
  std::string text;
  int64_t emit_ms = 0;
  LineKind kind = LineKind::kEvent;
  std::optional<decode::Reason> expected_reason;  // kMalformed only
};

// A line that must be refused, and the reason code it must be refused with.
struct Malformed {
  std::string text;
  decode::Reason reason;
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

struct Generator::Impl {
  explicit Impl(const GeneratorOptions& o)
      : options(o), sim(o.seed), ids(id_seed(o)), noise(mix(o.seed, 0x6e6f697365ULL)) {
    end_ms = o.duration_ms > 0 ? o.start_ms + o.duration_ms : 0;
    ring.resize(64);
    build_menu_index();
    build_restaurants();
    // A warm start's unwritten history runs now, so that the first next_line() is quick.
    while (!actions.empty() && actions.top().t < options.start_ms) step();
  }

  // ---- set-up ----

  void build_menu_index() {
    for (size_t i = 0; i < kMenuSize; ++i) {
      const MenuItem& item = kMenu[i];
      auto& cat = categories[item.category];
      cat.total += item.weight;
      cat.items.push_back(static_cast<uint8_t>(i));
      cat.cumulative.push_back(cat.total);
      // The constant part of an item's JSON object, up to the quantity (the brief's order).
      fmt::memory_buffer head;
      append(head, fmt::format(R"({{"item_id":"{}","item_name":"{}","category":"{}","price":)",
                               item.id, json_escape(item.name), kCategoryNames[item.category]));
      append_money(head, item.price_cents);
      append(head, ",\"quantity\":");
      item_head[i] = fmt::to_string(head);
    }
  }

  void build_restaurants() {
    const int n = options.restaurants;
    const int width = std::max(3, digits_of(n));
    restaurants.resize(static_cast<size_t>(n));
    int tables_total = 0;
    for (int i = 0; i < n; ++i) {
      Restaurant& r = restaurants[static_cast<size_t>(i)];
      r.number = fmt::format("{:0{}}", i + 1, width);
      r.id = "r-" + r.number;
      const auto base = kRestaurantNames[static_cast<size_t>(i) % kRestaurantNames.size()];
      const size_t cycle = static_cast<size_t>(i) / kRestaurantNames.size();
      r.base_name = cycle == 0 ? std::string(base) : fmt::format("{} {}", base, cycle + 1);
      r.name = r.base_name;
      rebuild_fields(r);
      if (options.target_rate > 0) {
        const double per_table = kEventsPerParty * 1000.0 / kTableCycleMs;  // events/s
        r.tables = std::max(4, static_cast<int>(std::ceil(options.target_rate / n / per_table)));
      } else {
        r.tables = static_cast<int>(sim.range(12, 30));
      }
      tables_total += r.tables;
      r.table_width = std::max(2, digits_of(r.tables));
      r.servers = std::max(2, r.tables / 5 + static_cast<int>(sim.range(0, 2)));
      r.tax_bp = kTaxBasisPoints[static_cast<size_t>(sim.range(0, kTaxBasisPoints.size() - 1))];
      r.arrivals_per_ms = kPeakLoad * r.tables / kTableCycleMs;
      r.waiting_cap = static_cast<size_t>(std::max(4, r.tables / 3));
      r.free_tables.reserve(static_cast<size_t>(r.tables));
      for (int t = r.tables - 1; t >= 0; --t) r.free_tables.push_back(t);
    }
    stats.tables = tables_total;
    for (int i = 0; i < n; ++i) {
      Restaurant& r = restaurants[static_cast<size_t>(i)];
      // Warm start: every table got a party up to one cycle before a 30-minute history that is
      // simulated but not written, so the stream opens in steady state (rate, wait times).
      int64_t opens = options.start_ms;
      if (options.warm_start) {
        opens = options.start_ms - kWarmHistoryMs;
        while (!r.free_tables.empty()) {
          const int32_t party = new_party(i);
          seat(party, take_table(r), opens - sim.range(0, static_cast<int64_t>(kTableCycleMs)));
        }
      }
      schedule(opens + static_cast<int64_t>(sim.exponential(1.0 / r.arrivals_per_ms)), i,
               Act::kArrival);
      if (options.renames) {
        schedule(options.start_ms + static_cast<int64_t>(sim.exponential(
                                        static_cast<double>(options.rename_every_ms))),
                 i, Act::kRename);
      }
    }
  }

  void rebuild_fields(Restaurant& r) {
    const std::string_view prefix = options.location_fields ? "location" : "restaurant";
    r.fields = fmt::format(R"(,"{}_id":"{}","{}_name":"{}")", prefix, r.id, prefix,
                           json_escape(r.name));
  }

  // ---- simulation ----

  void schedule(int64_t t, int32_t id, Act act, uint8_t round = 0) {
    actions.push(Action{t, action_seq++, id, act, round});
  }

  int32_t new_party(int restaurant) {
    int32_t index;
    if (!free_parties.empty()) {
      index = free_parties.back();
      free_parties.pop_back();
    } else {
      index = static_cast<int32_t>(parties.size());
      parties.emplace_back();
    }
    Party& p = parties[static_cast<size_t>(index)];
    p.restaurant = restaurant;
    p.outstanding = 0;
    p.round_pending = false;
    p.orders[0].completed_ms = -1;
    p.orders[0].seq = 0;
    p.orders[1].completed_ms = -1;
    p.orders[1].seq = 0;
    const double u = sim.uniform();
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

  int32_t take_table(Restaurant& r) {
    const size_t pick =
        static_cast<size_t>(sim.range(0, static_cast<int64_t>(r.free_tables.size()) - 1));
    const int32_t table = r.free_tables[pick];
    r.free_tables[pick] = r.free_tables.back();
    r.free_tables.pop_back();
    return table;
  }

  // Arrival intensity relative to the peak: lunch and dinner rush (hours taken as UTC).
  double rush_factor(int64_t t) const {
    if (!options.rush_hours) return 1.0;
    const double hour = static_cast<double>(((t % kDay) + kDay) % kDay) / kHour;
    auto bump = [hour](double centre, double width) {
      const double z = (hour - centre) / width;
      return std::exp(-0.5 * z * z);
    };
    return std::min(1.0, 0.2 + 0.8 * bump(12.75, 1.2) + 0.85 * bump(19.5, 1.6));
  }

  void on_arrival(int32_t ri, int64_t t) {
    Restaurant& r = restaurants[static_cast<size_t>(ri)];
    schedule(t + 1 + static_cast<int64_t>(sim.exponential(1.0 / r.arrivals_per_ms)), ri,
             Act::kArrival);
    if (!sim.chance(rush_factor(t))) return;
    if (r.free_tables.empty() && r.waiting.size() >= r.waiting_cap) return;  // they go elsewhere
    const int32_t party = new_party(ri);
    if (r.free_tables.empty()) {
      r.waiting.push_back(party);
    } else {
      seat(party, take_table(r), t);
    }
  }

  void seat(int32_t pi, int32_t table, int64_t t) {
    Party& p = parties[static_cast<size_t>(pi)];
    const Restaurant& r = restaurants[static_cast<size_t>(p.restaurant)];
    p.table = table;
    p.server = static_cast<int32_t>(sim.range(0, r.servers - 1));
    if (should_emit(t)) {
      Ev ev = base_event(EventType::kTableSeated, t, p);
      ev.party_size = p.size;
      emit(ev);
    }
    if (sim.chance(kWalkoutChance)) {
      schedule(t + sim.range(4 * kMinute, 20 * kMinute), pi, Act::kLeave);
    } else {
      schedule(t + sim.range(3 * kMinute, 15 * kMinute), pi, Act::kPlace, 0);
    }
  }

  // Picks a menu item of `category`, weighted by popularity.
  uint8_t pick_item(Rng& rng, Category category) {
    const auto& cat = categories[category];
    const int64_t roll = rng.range(0, cat.total - 1);
    for (size_t i = 0; i < cat.items.size(); ++i) {
      if (roll < cat.cumulative[i]) return cat.items[i];
    }
    return cat.items.back();
  }

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

  void on_place(int32_t pi, uint8_t round, int64_t t) {
    Party& p = parties[static_cast<size_t>(pi)];
    Restaurant& r = restaurants[static_cast<size_t>(p.restaurant)];
    Order& order = p.orders[round];
    fill_order(sim, placed_items, p.size, round);
    order.subtotal_cents = placed_items.subtotal_cents;
    order.seq = ++r.next_order;
    order.placed_ms = t;
    order.completed_ms = -1;
    ++p.outstanding;
    p.round_pending = false;
    if (should_emit(t)) {
      Ev ev = base_event(EventType::kOrderPlaced, t, p);
      ev.order_seq = order.seq;
      ev.items = &placed_items;
      ev.subtotal = order.subtotal_cents;
      emit(ev);
    }
    if (sim.chance(kNeverCompletesChance)) {
      schedule(t + sim.range(40 * kMinute, 60 * kMinute), pi, Act::kAbandon, round);
    } else {
      // 8 to 30 minutes, most often around 19.
      const double spread = (sim.uniform() + sim.uniform()) / 2.0;
      schedule(t + 8 * kMinute + static_cast<int64_t>(spread * 22.0 * kMinute), pi, Act::kComplete,
               round);
    }
  }

  void on_complete(int32_t pi, uint8_t round, int64_t t) {
    Party& p = parties[static_cast<size_t>(pi)];
    Order& order = p.orders[round];
    order.completed_ms = t;
    --p.outstanding;
    // The kitchen's own clock: the elapsed time with a little noise, in tenths of a minute.
    const double minutes = static_cast<double>(t - order.placed_ms) / kMinute + sim.normal() * 0.25;
    const int64_t tenths = std::max<int64_t>(0, std::llround(minutes * 10.0));
    if (should_emit(t)) {
      Ev ev = base_event(EventType::kOrderCompleted, t, p);
      ev.order_seq = order.seq;
      ev.kitchen_tenths = tenths;
      emit(ev);
    }
    if (round == 0 && sim.chance(kSecondRoundChance)) {
      p.round_pending = true;
      schedule(t + sim.range(5 * kMinute, 20 * kMinute), pi, Act::kPlace, 1);
      return;
    }
    maybe_check_out(pi, t);
  }

  void on_abandon(int32_t pi, int64_t t) {
    --parties[static_cast<size_t>(pi)].outstanding;
    maybe_check_out(pi, t);
  }

  // Once nothing is cooking and no round is coming, the party asks for the bill (or leaves).
  void maybe_check_out(int32_t pi, int64_t t) {
    const Party& p = parties[static_cast<size_t>(pi)];
    if (p.outstanding > 0 || p.round_pending) return;
    if (p.orders[0].completed_ms >= 0 || p.orders[1].completed_ms >= 0) {
      schedule(t + sim.range(5 * kMinute, 40 * kMinute), pi, Act::kCheckout);
    } else {
      schedule(t + sim.range(1 * kMinute, 5 * kMinute), pi, Act::kLeave);
    }
  }

  void on_checkout(int32_t pi, int64_t t) {
    const Party& p = parties[static_cast<size_t>(pi)];
    int64_t at = t;
    if (!sim.chance(kDineAndDashChance)) {
      // One payment per completed order (a check per order), a few seconds apart.
      for (uint8_t round = 0; round < 2; ++round) {
        if (p.orders[round].seq == 0 || p.orders[round].completed_ms < 0) continue;
        schedule(at, pi, Act::kPay, round);
        at += sim.range(5 * kSecond, 45 * kSecond);
      }
    }
    schedule(at + sim.range(2 * kMinute, 8 * kMinute), pi, Act::kLeave);
  }

  void on_pay(int32_t pi, uint8_t round, int64_t t) {
    const Party& p = parties[static_cast<size_t>(pi)];
    const Restaurant& r = restaurants[static_cast<size_t>(p.restaurant)];
    const Order& order = p.orders[round];
    const int64_t subtotal = order.subtotal_cents;
    const int64_t tax = std::llround(static_cast<double>(subtotal) * r.tax_bp / 10000.0);
    const double tip_share = sim.chance(0.08) ? 0.0 : 0.08 + 0.17 * sim.uniform();
    const int64_t tip = std::llround(static_cast<double>(subtotal) * tip_share);
    const double method_roll = sim.uniform();
    const std::string_view method = method_roll < 0.45   ? "credit_card"
                                    : method_roll < 0.65 ? "debit_card"
                                    : method_roll < 0.80 ? "cash"
                                    : method_roll < 0.95 ? "mobile_payment"
                                                         : "gift_card";
    if (should_emit(t)) {
      Ev ev = base_event(EventType::kPayment, t, p);
      ev.order_seq = order.seq;
      ev.subtotal = subtotal;
      ev.tax = tax;
      ev.tip = tip;
      ev.method = method;
      emit(ev);
    }
  }

  void on_leave(int32_t pi, int64_t t) {
    const Party& p = parties[static_cast<size_t>(pi)];
    Restaurant& r = restaurants[static_cast<size_t>(p.restaurant)];
    const int32_t table = p.table;
    free_parties.push_back(pi);
    if (!r.waiting.empty()) {
      const int32_t next = r.waiting.front();
      r.waiting.pop_front();
      seat(next, table, t);
    } else {
      r.free_tables.push_back(table);
    }
  }

  void on_rename(int32_t ri, int64_t t) {
    Restaurant& r = restaurants[static_cast<size_t>(ri)];
    ++r.renames;
    r.name =
        r.base_name +
        std::string(kRenameSuffixes[static_cast<size_t>(r.renames - 1) % kRenameSuffixes.size()]);
    rebuild_fields(r);
    schedule(
        t + kMinute +
            static_cast<int64_t>(sim.exponential(static_cast<double>(options.rename_every_ms))),
        ri, Act::kRename);
  }

  // Runs one action; sets `finished` when the stream has reached its end.
  void step() {
    if (actions.empty()) {
      finished = true;
      return;
    }
    const Action a = actions.top();
    if (end_ms > 0 && a.t >= end_ms) {
      finished = true;
      return;
    }
    actions.pop();
    now = a.t;
    flush_pending(now + shift);
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
  }

  // ---- writing events ----

  bool should_emit(int64_t t) const { return !finished && t >= options.start_ms; }

  Ev base_event(EventType type, int64_t t, const Party& p) const {
    Ev ev;
    ev.type = type;
    ev.t = t + shift;  // output time
    ev.restaurant = &restaurants[static_cast<size_t>(p.restaurant)];
    ev.table = p.table;
    ev.server = p.server;
    return ev;
  }

  // A random (version 4, variant 1) UUID in lower case, from two random words.
  static void make_uuid(uint64_t hi, uint64_t lo, Ev& ev) {
    static constexpr char kHex[] = "0123456789abcdef";
    hi = (hi & ~0xf000ULL) | 0x4000ULL;                         // version 4
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10xx
    int pos = 0;
    for (int i = 0; i < 32; ++i) {
      if (i == 8 || i == 12 || i == 16 || i == 20) ev.id[pos++] = '-';
      const uint64_t word = i < 16 ? hi : lo;
      const int shift = 60 - 4 * (i % 16);
      ev.id[pos++] = kHex[(word >> shift) & 0xf];
    }
    ev.id_size = 36;
  }

  static void make_uuid(Rng& rng, Ev& ev) {
    const uint64_t hi = rng.next();
    make_uuid(hi, rng.next(), ev);
  }

  // "evt_" and 20 lower-case base-36 characters (10 per word): an id that is not a UUID.
  static void make_opaque_id(uint64_t hi, uint64_t lo, Ev& ev) {
    static constexpr char kBase36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::memcpy(ev.id, "evt_", 4);
    int pos = 4;
    for (uint64_t word : {hi, lo}) {
      for (int i = 0; i < 10; ++i) {
        ev.id[pos++] = kBase36[word % 36];
        word /= 36;
      }
    }
    ev.id_size = static_cast<uint8_t>(pos);
  }

  // "2026-11-24T18:03:12.345Z", or without a zone "2026-11-24T18:03:12.345000" (Python's
  // isoformat() of UTC wall time); the date part comes from tp::format_iso_ms once per day.
  void append_timestamp(fmt::memory_buffer& out, int64_t ms, bool naive) {
    const int64_t day = ms >= 0 ? ms / kDay : -((-ms + kDay - 1) / kDay);
    if (day != cached_day) {
      cached_day = day;
      const std::string text = format_iso_ms(day * kDay);
      std::memcpy(cached_date, text.data(), 11);  // "YYYY-MM-DDT"
    }
    int64_t rest = ms - day * kDay;
    char time[13] = {'0', '0', ':', '0', '0', ':', '0', '0', '.', '0', '0', '0', 'Z'};
    const int64_t hours = rest / kHour;
    const int64_t minutes = rest / kMinute % 60;
    const int64_t seconds = rest / kSecond % 60;
    const int64_t millis = rest % 1000;
    time[0] = static_cast<char>('0' + hours / 10);
    time[1] = static_cast<char>('0' + hours % 10);
    time[3] = static_cast<char>('0' + minutes / 10);
    time[4] = static_cast<char>('0' + minutes % 10);
    time[6] = static_cast<char>('0' + seconds / 10);
    time[7] = static_cast<char>('0' + seconds % 10);
    time[9] = static_cast<char>('0' + millis / 100);
    time[10] = static_cast<char>('0' + millis / 10 % 10);
    time[11] = static_cast<char>('0' + millis % 10);
    out.append(cached_date, cached_date + 11);
    if (naive) {
      out.append(time, time + 12);
      append(out, "000");
    } else {
      out.append(time, time + 13);
    }
  }

  void append_server_id(fmt::memory_buffer& out, const Restaurant& r, int32_t server) {
    append(out, ",\"server_id\":\"s-");
    append(out, r.number);
    out.push_back('-');
    append_padded(out, server + 1, 2);
    out.push_back('"');
  }

  void append_order_id(fmt::memory_buffer& out, const Restaurant& r, int64_t seq) {
    append(out, ",\"order_id\":\"o-");
    append(out, r.number);
    out.push_back('-');
    append_padded(out, seq, 6);
    out.push_back('"');
  }

  // Writes `ev` as one JSON line into `out`. tweak = 1 changes a value (a conflicting
  // redelivery) while keeping the event consistent (subtotal and total still add up).
  void write(const Ev& ev, int tweak, fmt::memory_buffer& out) {
    const Restaurant& r = *ev.restaurant;
    out.clear();
    append(out, "{\"event_id\":\"");
    out.append(ev.id, ev.id + ev.id_size);
    append(out, "\",\"event_type\":\"");
    append(out, event_type_name(ev.type));
    append(out, "\",\"timestamp\":\"");
    append_timestamp(out, ev.t, ev.naive);
    out.push_back('"');
    append(out, r.fields);
    append(out, ",\"table_id\":\"T");
    append_padded(out, ev.table + 1, r.table_width);
    out.push_back('"');
    switch (ev.type) {
      case EventType::kTableSeated:
        append(out, ",\"party_size\":");
        append_int(out, ev.party_size + (ev.party_size < 8 ? tweak : -tweak));
        append_server_id(out, r, ev.server);
        break;
      case EventType::kOrderPlaced: {
        const Items& order = *ev.items;
        append_server_id(out, r, ev.server);
        append_order_id(out, r, ev.order_seq);
        append(out, ",\"items\":[");
        for (uint8_t i = 0; i < order.lines; ++i) {
          if (i > 0) out.push_back(',');
          append(out, item_head[order.item[i]]);
          append_int(out, order.qty[i] + (i == 0 ? tweak : 0));
          out.push_back('}');
        }
        append(out, "],\"subtotal\":");
        append_money(out, ev.subtotal + tweak * kMenu[order.item[0]].price_cents);
        break;
      }
      case EventType::kOrderCompleted: {
        append_order_id(out, r, ev.order_seq);
        append(out, ",\"kitchen_time_minutes\":");
        const int64_t tenths = ev.kitchen_tenths + tweak * 15;
        append_int(out, tenths / 10);
        out.push_back('.');
        out.push_back(static_cast<char>('0' + tenths % 10));
        break;
      }
      case EventType::kPayment:
        append_order_id(out, r, ev.order_seq);
        append(out, ",\"subtotal\":");
        append_money(out, ev.subtotal);
        append(out, ",\"tax\":");
        append_money(out, ev.tax);
        append(out, ",\"tip\":");
        append_money(out, ev.tip + tweak * 100);
        append(out, ",\"total_amount\":");
        append_money(out, ev.subtotal + ev.tax + ev.tip + tweak * 100);
        append(out, ",\"payment_method\":\"");
        append(out, ev.method);
        out.push_back('"');
        break;
    }
    out.push_back('}');
  }

  static std::string_view view(const fmt::memory_buffer& buffer) {
    return {buffer.data(), buffer.size()};
  }

  // Writes a valid event and the noise that goes with it.
  void emit(Ev& ev) {
    // Always four draws from the id stream, whatever the rates: a rate only changes the spelling
    // of the events it picks, never the ids or spelling of the others.
    ev.naive = ids.chance(options.naive_rate);
    const bool opaque_id = ids.chance(options.opaque_id_rate);
    const uint64_t hi = ids.next();
    const uint64_t lo = ids.next();
    if (opaque_id) {
      make_opaque_id(hi, lo, ev);
    } else {
      make_uuid(hi, lo, ev);
    }
    write(ev, 0, line);
    ++stats.events;
    if (stats.first_event_ms == 0) stats.first_event_ms = ev.t;
    stats.last_event_ms = std::max(stats.last_event_ms, ev.t);
    // Always four draws: the noise pattern does not depend on which branches are taken.
    const bool late = noise.chance(options.late_rate);
    const bool duplicate = noise.chance(options.duplicate_rate);
    const bool conflict = noise.chance(options.conflict_rate);
    const bool malformed = noise.chance(options.malformed_rate);
    int64_t emitted_at = ev.t;
    if (late) {
      const int64_t low = std::max<int64_t>(1, options.max_late_ms / 5);
      emitted_at = ev.t + noise.range(low, options.max_late_ms);
      hold(view(line), emitted_at, LineKind::kLate);
      ++stats.late;
    } else {
      push_ready(view(line), ev.t, LineKind::kEvent);
    }
    if (duplicate) {
      hold(view(line), emitted_at + noise.range(100, 2 * kMinute), LineKind::kDuplicate);
      ++stats.duplicates;
    }
    if (conflict) {
      write(ev, 1, scratch);
      hold(view(scratch), emitted_at + noise.range(kSecond, 10 * kMinute), LineKind::kConflict);
      ++stats.conflicts;
    }
    if (malformed) {
      const Malformed bad = make_malformed(ev);
      push_ready(bad.text, ev.t, LineKind::kMalformed, bad.reason);
      ++stats.malformed;
    }
    if (options.max_events > 0 && stats.events >= options.max_events) finished = true;
  }

  // ---- malformed lines ----

  // Fills `ev` as a plausible event of `type` at the same place and time, from the noise stream.
  void synthesize(Ev& ev, EventType type) {
    ev.type = type;
    const Restaurant& r = *ev.restaurant;
    switch (type) {
      case EventType::kTableSeated:
        ev.party_size = static_cast<int>(noise.range(1, 8));
        ev.server = static_cast<int32_t>(noise.range(0, r.servers - 1));
        break;
      case EventType::kOrderPlaced:
        fill_order(noise, noise_items, static_cast<int>(noise.range(1, 6)), 0);
        ev.order_seq = std::max<int64_t>(1, r.next_order);
        ev.items = &noise_items;
        ev.subtotal = noise_items.subtotal_cents;
        break;
      case EventType::kOrderCompleted:
        ev.order_seq = std::max<int64_t>(1, r.next_order);
        ev.kitchen_tenths = noise.range(80, 300);
        break;
      case EventType::kPayment:
        ev.order_seq = std::max<int64_t>(1, r.next_order);
        ev.subtotal = noise.range(500, 15000);
        ev.tax = ev.subtotal * r.tax_bp / 10000;
        ev.tip = ev.subtotal * noise.range(0, 25) / 100;
        ev.method = "credit_card";
        break;
    }
  }

  template <size_t N>
  std::string_view pick(const std::array<std::string_view, N>& choices) {
    return choices[static_cast<size_t>(noise.range(0, N - 1))];
  }

  // The spelling of the restaurant fields in this stream, and the one it does not use.
  std::string_view restaurant_id_key() const {
    return options.location_fields ? "location_id" : "restaurant_id";
  }
  std::string_view restaurant_name_key() const {
    return options.location_fields ? "location_name" : "restaurant_name";
  }
  std::string_view other_id_key() const {
    return options.location_fields ? "restaurant_id" : "location_id";
  }
  std::string_view other_name_key() const {
    return options.location_fields ? "restaurant_name" : "location_name";
  }

  // The kinds of refused line. Kinds below kFirstTyped corrupt an event of any type (the
  // source's); the others need an event of the type kTypeOfKind names.
  enum MalformedKind : uint8_t {
    kCutShort,
    kGarbage,
    kNotAnObject,
    kCommonFieldMissing,
    kTypeFieldMissing,
    kBadEventId,
    kBadTimestamp,
    kUnknownType,
    kCommonFieldWrongType,
    kEmptyOrLongString,
    kBothSpellings,
    kKeyTwice,
    kBadPartySize,
    kNegativePrice,
    kNoItems,
    kBrokenItem,
    kBadKitchenTime,
    kBadPayment,
    kMalformedKinds
  };
  static constexpr int kFirstTyped = kBadPartySize;
  static constexpr std::array<EventType, kMalformedKinds - kFirstTyped> kTypeOfKind = {
      EventType::kTableSeated, EventType::kOrderPlaced,    EventType::kOrderPlaced,
      EventType::kOrderPlaced, EventType::kOrderCompleted, EventType::kPayment};

  // A line a consumer must refuse, modelled on `source` (same restaurant and time, a fresh
  // event_id), and the reason it must be refused with: each kind names its reason where it
  // writes the defect, one defect per line so that the reason is not a matter of check order.
  Malformed make_malformed(const Ev& source) {
    using Json = nlohmann::ordered_json;
    using decode::Reason;
    Ev ev = source;
    make_uuid(noise, ev);
    const int kind = static_cast<int>(noise.range(0, kMalformedKinds - 1));
    if (kind >= kFirstTyped && ev.type != kTypeOfKind[static_cast<size_t>(kind - kFirstTyped)]) {
      synthesize(ev, kTypeOfKind[static_cast<size_t>(kind - kFirstTyped)]);
    }
    write(ev, 0, scratch);
    const std::string text(view(scratch));
    Json j = Json::parse(text);
    // The line as edited in `j`, refused for `reason`.
    auto edited = [&j](Reason reason) { return Malformed{j.dump(), reason}; };
    const std::string id_key(restaurant_id_key());
    const std::string name_key(restaurant_name_key());
    switch (kind) {
      case kCutShort: {  // not JSON: cut short (between characters, so still valid UTF-8)
        auto cut = static_cast<size_t>(noise.range(5, static_cast<int64_t>(text.size()) - 2));
        while ((static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
        return {text.substr(0, cut), Reason::kNotJson};
      }
      case kGarbage: {  // not JSON: something else on the wire
        static constexpr std::array<std::string_view, 5> kGarbageLines = {
            "POS-7 heartbeat ok", "<html><head><title>502 Bad Gateway</title></head></html>",
            "event_type=table_seated&table_id=T04&party_size=2",
            "{'event_id': 'n/a', 'event_type': 'payment'}", "{\"event_id\":"};
        return {std::string(pick(kGarbageLines)), Reason::kNotJson};
      }
      case kNotAnObject: {  // JSON, but not an object
        const int64_t which = noise.range(0, 3);
        if (which == 0) return {"[" + text + "]", Reason::kNotObject};
        if (which == 1) {
          return {fmt::format("\"{}\"", event_type_name(ev.type)), Reason::kNotObject};
        }
        if (which == 2) return {"42", Reason::kNotObject};
        return {"null", Reason::kNotObject};
      }
      case kCommonFieldMissing: {  // a field every event has is absent
        const std::array<std::string, 6> common = {"event_id", "event_type", "timestamp",
                                                   id_key,     name_key,     "table_id"};
        j.erase(common[static_cast<size_t>(noise.range(0, common.size() - 1))]);
        return edited(Reason::kMissingField);
      }
      case kTypeFieldMissing: {  // a field of the event's type is absent
        std::vector<std::string> fields;
        switch (ev.type) {
          case EventType::kTableSeated:
            fields = {"party_size", "server_id"};
            break;
          case EventType::kOrderPlaced:
            fields = {"server_id", "order_id", "items", "subtotal"};
            break;
          case EventType::kOrderCompleted:
            fields = {"order_id", "kitchen_time_minutes"};
            break;
          case EventType::kPayment:
            fields = {"order_id", "subtotal", "tax", "tip", "total_amount", "payment_method"};
            break;
        }
        j.erase(
            fields[static_cast<size_t>(noise.range(0, static_cast<int64_t>(fields.size()) - 1))]);
        return edited(Reason::kMissingField);
      }
      case kBadEventId: {  // any non-empty id up to 128 bytes is valid: empty, longer, a number
        const std::string id(ev.id, ev.id_size);
        const int64_t which = noise.range(0, 3);
        if (which == 0) {
          j["event_id"] = "";
          return edited(Reason::kInvalidEventId);
        }
        if (which <= 2) {  // 129 bytes (one too many), or 144 (four UUIDs run together)
          j["event_id"] = which == 1 ? (id + id + id + id).substr(0, 129) : id + id + id + id;
          return edited(Reason::kInvalidEventId);
        }
        j["event_id"] = static_cast<int64_t>(noise.range(1, 999999999));
        return edited(Reason::kWrongType);
      }
      case kBadTimestamp: {  // not an ISO 8601 date and time (zone-less, offsets, ' ' are fine)
        const std::string ts = format_iso_ms(ev.t);  // "2026-11-24T18:03:12.345Z"
        const int64_t which = noise.range(0, 7);
        if (which == 0) j["timestamp"] = ts.substr(0, 5) + "02-30" + ts.substr(10);  // no such day
        if (which == 1) j["timestamp"] = ts.substr(0, 5) + "13" + ts.substr(7);  // no such month
        if (which == 2) {  // dd/mm/yyyy hh:mm:ss
          j["timestamp"] = ts.substr(8, 2) + "/" + ts.substr(5, 2) + "/" + ts.substr(0, 4) + " " +
                           ts.substr(11, 8);
        }
        if (which == 3) j["timestamp"] = ts.substr(0, 11) + "24" + ts.substr(13);  // hour 24
        if (which == 4) j["timestamp"] = ts.substr(0, 17) + "60" + ts.substr(19);  // second 60
        if (which == 5) j["timestamp"] = ts.substr(0, 10);                         // no time part
        if (which == 6) j["timestamp"] = ev.t;                      // epoch ms, a JSON number
        if (which == 7) j["timestamp"] = std::to_string(ev.t / kSecond);  // epoch s, digits
        return edited(Reason::kInvalidTimestamp);
      }
      case kUnknownType: {  // event_type not one of the four (exact, lower case)
        static constexpr std::array<std::string_view, 7> kTypes = {
            "table_cleared", "order_cancelled", "refund", "tip_adjusted", "", "PAYMENT",
            "Order_Placed"};
        j["event_type"] = std::string(pick(kTypes));
        return edited(Reason::kUnknownEventType);
      }
      case kCommonFieldWrongType: {  // a string field every event has, of another JSON type
        const int64_t which = noise.range(0, 3);
        if (which == 0) j[id_key] = std::stoi(ev.restaurant->number);
        if (which == 1) j["table_id"] = ev.table + 1;
        if (which == 2) j["event_type"] = static_cast<int>(ev.type);
        if (which == 3) j[name_key] = Json::array({ev.restaurant->name});
        return edited(Reason::kWrongType);
      }
      case kEmptyOrLongString: {  // empty or over-long strings
        const int64_t which = noise.range(0, 4);
        if (which == 0) j[id_key] = "";
        if (which == 1) j[name_key] = "";
        if (which == 2) j["table_id"] = "";
        if (which == 3) {  // restaurant_name: at most 200 bytes
          std::string name;
          while (name.size() <= 200) name += ev.restaurant->name + " ";
          j[name_key] = name;
        }
        if (which == 4) j[id_key] = ev.restaurant->id + std::string(64, 'x');  // id: at most 64
        return edited(Reason::kOutOfRange);
      }
      case kBothSpellings: {  // restaurant_id and location_id (or the names) disagree
        if (noise.chance(0.5)) {
          // An id of no restaurant of this stream: r-006 when there are 5.
          j[std::string(other_id_key())] =
              fmt::format("r-{:0{}}", restaurants.size() + 1, ev.restaurant->number.size());
        } else {
          j[std::string(other_name_key())] = ev.restaurant->name + " (old)";
        }
        return edited(Reason::kConflictingFields);
      }
      case kKeyTwice: {  // a key given twice in one object: raw text, a JSON library would merge
        std::string twice = text.substr(0, text.size() - 1);
        const int64_t which = noise.range(0, 2);
        if (which == 0) {  // another value
          twice += fmt::format(R"(,"table_id":"T{}")", ev.table + 2);
        } else if (which == 1) {  // the same value
          twice += fmt::format(R"(,"event_type":"{}")", event_type_name(ev.type));
        } else {  // a field of the type again
          switch (ev.type) {
            case EventType::kTableSeated:
              twice += fmt::format(R"(,"party_size":{})", ev.party_size % 8 + 1);
              break;
            case EventType::kOrderPlaced:
              twice += R"(,"subtotal":0)";
              break;
            case EventType::kOrderCompleted:
              twice += R"(,"kitchen_time_minutes":0)";
              break;
            case EventType::kPayment:
              twice += R"(,"tip":0)";
              break;
          }
        }
        return {twice + "}", Reason::kDuplicateKey};
      }
      case kBadPartySize: {  // table_seated: party_size out of range or of the wrong type
        const int64_t which = noise.range(0, 4);
        if (which == 0) j["party_size"] = 0;
        if (which == 1) j["party_size"] = 101;
        if (which == 2) j["party_size"] = -2;
        if (which == 4) j["server_id"] = "";
        if (which == 3) {
          j["party_size"] = std::to_string(ev.party_size);
          return edited(Reason::kWrongType);
        }
        return edited(Reason::kOutOfRange);
      }
      case kNegativePrice: {  // order_placed: a negative unit price
        auto& item = j["items"][0];
        item["price"] = -item["price"].get<double>();
        if (item["price"].get<double>() == 0) item["price"] = -1.5;
        return edited(Reason::kOutOfRange);
      }
      case kNoItems:  // order_placed: no items
        j["items"] = Json::array();
        j["subtotal"] = 0;
        return edited(Reason::kEmptyItems);
      case kBrokenItem: {  // order_placed: an item or the subtotal broken
        const int64_t which = noise.range(0, 5);
        auto& item = j["items"][0];
        if (which == 0) {
          item["quantity"] = 0;
          return edited(Reason::kOutOfRange);
        }
        if (which == 1) {
          item["quantity"] = std::to_string(item["quantity"].get<int>());
          return edited(Reason::kWrongType);
        }
        if (which == 2) {
          item.erase("item_name");
          return edited(Reason::kMissingField);
        }
        if (which == 3) {
          item.erase("price");
          return edited(Reason::kMissingField);
        }
        if (which == 4) {
          j["items"] = Json(item);  // an object instead of an array
          return edited(Reason::kWrongType);
        }
        j["subtotal"] = fmt::format("{:.2f}", j["subtotal"].get<double>());
        return edited(Reason::kWrongType);
      }
      case kBadKitchenTime: {  // order_completed: kitchen time negative or a string
        const int64_t which = noise.range(0, 2);
        if (which == 0) {
          j["kitchen_time_minutes"] = -j["kitchen_time_minutes"].get<double>() - 1;
          return edited(Reason::kOutOfRange);
        }
        if (which == 1) {
          j["kitchen_time_minutes"] = j["kitchen_time_minutes"].dump();
          return edited(Reason::kWrongType);
        }
        j["order_id"] = "";
        return edited(Reason::kOutOfRange);
      }
      default: {  // kBadPayment: negative money, a string amount, an empty or over-long method
        const int64_t which = noise.range(0, 4);
        if (which == 0) j["tip"] = -j["tip"].get<double>() - 1;
        if (which == 1) j["tax"] = -1.25;
        if (which == 3) j["payment_method"] = "";
        if (which == 4) j["payment_method"] = "credit_card_" + std::string(53, 'x');  // 65 bytes
        if (which == 2) {
          j["total_amount"] = j["total_amount"].dump();
          return edited(Reason::kWrongType);
        }
        return edited(Reason::kOutOfRange);
      }
    }
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
      if (finished) {
        if (pending.empty()) return std::nullopt;
        // The end: what is still held back goes out now rather than at its due time.
        std::pop_heap(pending.begin(), pending.end(), PendingLater{});
        Pending& p = pending.back();
        Slot& slot = ring_slot(std::min(p.emit_ms, std::max(now + shift, last_emit)), p.kind);
        slot.text.swap(p.text);
        pending.pop_back();
        break;
      }
      step();
    }
    Slot& slot = ring[ring_head];
    ring_head = (ring_head + 1) & (ring.size() - 1);
    --ring_count;
    ++stats.lines;
    last_emit = std::max(last_emit, slot.emit_ms);
    return Line{slot.text, slot.emit_ms, slot.kind, slot.expected_reason};
  }

  struct CategoryIndex {
    std::vector<uint8_t> items;
    std::vector<int64_t> cumulative;
    int64_t total = 0;
  };

  GeneratorOptions options;
  GeneratorStats stats;
  Rng sim;    // the world: arrivals, orders, timings
  Rng ids;    // event_ids of valid events and how each is spelled (zone, id form)
  Rng noise;  // late/duplicate/conflict/malformed decisions and malformed contents
  int64_t end_ms = 0;
  int64_t now = 0;    // simulated clock
  int64_t shift = 0;  // output time minus simulated time (see Generator::restart_clock)
  int64_t last_emit = 0;
  bool finished = false;
  std::array<CategoryIndex, kCategoryCount> categories;
  std::array<std::string, kMenuSize> item_head;  // an item's JSON up to its quantity
  std::vector<Restaurant> restaurants;
  std::vector<Party> parties;
  std::vector<int32_t> free_parties;
  std::priority_queue<Action, std::vector<Action>, ActionLater> actions;
  uint64_t action_seq = 0;
  Items placed_items;  // the order being placed
  Items noise_items;   // a made-up order for a malformed line
  fmt::memory_buffer line;
  fmt::memory_buffer scratch;
  int64_t cached_day = INT64_MIN;
  char cached_date[11] = {};
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
