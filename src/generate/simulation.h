#pragma once
// The restaurant simulation: parties, tables, orders, the kitchen and payments, as a queue of
// timed actions that yield typed events (SimEvent) in event-time order. It knows nothing of how
// an event is spelled on the wire (wire.h) or of the noise laid over it (noise.h).
//
// Parties (1–8 people) arrive, more at lunch and dinner (by UTC hour), sit at a free table or
// queue; 4 % walk out before ordering, the others order 3–15 min after sitting; the kitchen
// completes an order 8–30 min after it is placed (3 % never); 25 % order a second round (a new
// order_id) 5–20 min after the first completes; 5–40 min after the last completion each completed
// order is paid (one payment per order; 2 % of parties never pay); the table is free again 2–8
// min later. Tax is 8–10 % per restaurant, tips 0–25 %.
#include <array>
#include <cstdint>
#include <deque>
#include <queue>
#include <string>
#include <vector>

#include "generate/event.h"
#include "generate/generator.h"
#include "generate/random.h"

namespace tp::generate {

// Where the simulation's events go, and when its clock moves.
class EventSink {
 public:
  // The clock reached `now` (simulated time), before the action due then runs.
  virtual void on_clock(int64_t now) = 0;
  // An event at or after options.start_ms; `event` (and its items) is valid during the call.
  virtual void on_event(SimEvent& event) = 0;

 protected:
  ~EventSink() = default;
};

// Fills `order` with a party of `size`'s first order (round 0) or second round (desserts,
// drinks), weighted by popularity; `rng` is the caller's stream (the noise makes orders too).
void fill_order(Rng& rng, Items& order, int size, int round);

// The world of GeneratorOptions: restaurants, their tables and the parties at them. Uses
// restaurants, seed, start_ms, duration_ms, renames, rename_every_ms, rush_hours, target_rate
// and warm_start; all its randomness comes from one stream seeded with options.seed.
class Simulation {
 public:
  // Sets the restaurants up and, for a warm start, runs the unwritten history before start_ms.
  explicit Simulation(const GeneratorOptions& options);

  // Runs the next action, telling `sink` of the clock and of the event it yields (at most one);
  // sets finished() instead when there is none left or it is due at or after the end.
  void step(EventSink& sink);
  // No more events: the stream reached its count (the caller counts them).
  void finish() { finished_ = true; }
  bool finished() const { return finished_; }
  int64_t now() const { return now_; }  // simulated time of the latest action
  int tables() const { return tables_; }
  const std::vector<Restaurant>& restaurants() const { return restaurants_; }

 private:
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

  // A scheduled step; `seq` keeps equal instants in a deterministic order.
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

  // A restaurant's seating, which its events do not show.
  struct Floor {
    std::string base_name;  // the name before renames
    int renames = 0;
    int tables = 0;
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

  struct Party {
    int32_t restaurant = 0;
    int32_t table = 0;
    int32_t server = 0;
    uint8_t size = 0;
    uint8_t outstanding = 0;  // orders placed and not yet completed or abandoned
    bool round_pending = false;
    std::array<Order, 2> orders;
  };

  void build_restaurants();
  void schedule(int64_t t, int32_t id, Act act, uint8_t round = 0);
  int32_t new_party(int restaurant);
  int32_t take_table(Floor& floor);
  double rush_factor(int64_t t) const;
  void on_arrival(int32_t ri, int64_t t);
  void seat(int32_t pi, int32_t table, int64_t t);
  void on_place(int32_t pi, uint8_t round, int64_t t);
  void on_complete(int32_t pi, uint8_t round, int64_t t);
  void on_abandon(int32_t pi, int64_t t);
  void maybe_check_out(int32_t pi, int64_t t);
  void on_checkout(int32_t pi, int64_t t);
  void on_pay(int32_t pi, uint8_t round, int64_t t);
  void on_leave(int32_t pi, int64_t t);
  void on_rename(int32_t ri, int64_t t);
  bool should_emit(int64_t t) const { return !finished_ && t >= options_.start_ms; }
  SimEvent base_event(EventType type, int64_t t, const Party& p) const;
  void emit(SimEvent& event) { sink_->on_event(event); }

  GeneratorOptions options_;
  Rng rng_;  // the world: arrivals, orders, timings
  int64_t end_ms_ = 0;
  int64_t now_ = 0;
  bool finished_ = false;
  int tables_ = 0;
  std::vector<Restaurant> restaurants_;
  std::vector<Floor> floors_;  // by restaurant index
  std::vector<Party> parties_;
  std::vector<int32_t> free_parties_;
  std::priority_queue<Action, std::vector<Action>, ActionLater> actions_;
  uint64_t action_seq_ = 0;
  Items placed_items_;  // the order being placed
  EventSink* sink_ = nullptr;  // during step()
};

}  // namespace tp::generate
