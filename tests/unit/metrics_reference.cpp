// The reference metrics: straightforward loops over the event list, written for obviousness
// rather than speed (a few thousand events per call in the tests). See metrics_reference.h for
// the rules the spec leaves open.
#include "metrics_reference.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace tp::test {
namespace {

// Events of one instant's view: the window and everything at or before as_of.
struct View {
  const std::vector<Event>& events;
  int64_t as_of_ms;
  int64_t window_ms;

  // as_of - W < ts <= as_of.
  bool in_window(const Event& e) const {
    return e.ts_ms <= as_of_ms && e.ts_ms > as_of_ms - window_ms;
  }
  // Usable at all at as_of (names, matches): nothing later than as_of ever counts.
  bool known(const Event& e) const { return e.ts_ms <= as_of_ms; }
};

// Money as the spec's JSON number: exact cents shown as a 2-decimal number.
RefJson money(int64_t cents) { return static_cast<double>(cents) / 100.0; }

// A ratio, null when the denominator is 0.
RefJson ratio(int64_t numerator, int64_t denominator) {
  if (denominator == 0) return nullptr;
  return static_cast<double>(numerator) / static_cast<double>(denominator);
}

// Average of millisecond samples in minutes, null without samples (sum is exact in int64).
RefJson average_minutes(int64_t sum_ms, int64_t samples) {
  if (samples == 0) return nullptr;
  return static_cast<double>(sum_ms) / static_cast<double>(samples) / 60000.0;
}

// restaurant_id -> name on its latest event at or before as_of (any type, any time).
std::map<std::string, std::string> latest_names(const View& view) {
  std::map<std::string, const Event*> latest;
  for (const Event& e : view.events) {
    if (!view.known(e)) continue;
    auto [it, inserted] = latest.emplace(e.restaurant_id, &e);
    if (!inserted && later_event(e, *it->second)) it->second = &e;
  }
  std::map<std::string, std::string> names;
  for (const auto& [id, e] : latest) names[id] = e->restaurant_name;
  return names;
}

// order_id -> its earliest event of `type` at or before as_of (see the header for why earliest).
std::map<std::string, const Event*> earliest_by_order(const View& view, EventType type) {
  std::map<std::string, const Event*> earliest;
  for (const Event& e : view.events) {
    if (e.type != type || !view.known(e)) continue;
    auto [it, inserted] = earliest.emplace(e.order_id, &e);
    if (!inserted && later_event(*it->second, e)) it->second = &e;
  }
  return earliest;
}

// Latest table_seated of the order_placed's restaurant and table with S.ts <= P.ts, if any.
// (P.ts <= as_of for every P used, so S is never later than as_of either.)
class SeatingIndex {
 public:
  explicit SeatingIndex(const View& view) {
    for (const Event& e : view.events) {
      if (e.type == EventType::kTableSeated && view.known(e)) {
        times_[{e.restaurant_id, e.table_id}].push_back(e.ts_ms);
      }
    }
    for (auto& [key, times] : times_) std::sort(times.begin(), times.end());
  }

  // Timestamp of the matching seating of order_placed `p`; ties do not matter (only ts is used).
  std::optional<int64_t> seating_for(const Event& p) const {
    auto it = times_.find({p.restaurant_id, p.table_id});
    if (it == times_.end()) return std::nullopt;
    const std::vector<int64_t>& times = it->second;
    auto after = std::upper_bound(times.begin(), times.end(), p.ts_ms);  // first S.ts > P.ts
    if (after == times.begin()) return std::nullopt;
    return *(after - 1);
  }

 private:
  std::map<std::pair<std::string, std::string>, std::vector<int64_t>> times_;
};

}  // namespace

bool later_event(const Event& a, const Event& b) {
  if (a.ts_ms != b.ts_ms) return a.ts_ms > b.ts_ms;
  return a.event_id > b.event_id;  // canonical lower-case text, byte-wise
}

RefJson reference_revenue(const std::vector<Event>& events, int64_t as_of_ms, int64_t window_ms) {
  View view{events, as_of_ms, window_ms};
  // Per restaurant: exact sums in cents and the distinct orders paid.
  struct Sums {
    int64_t revenue = 0, net_sales = 0, tax = 0, tips = 0;
    std::set<std::string> orders;
  };
  std::map<std::string, Sums> by_restaurant;
  for (const Event& e : events) {
    if (e.type != EventType::kPayment || !view.in_window(e)) continue;
    Sums& sums = by_restaurant[e.restaurant_id];
    sums.revenue += e.total_cents;
    sums.net_sales += e.subtotal_cents;
    sums.tax += e.tax_cents;
    sums.tips += e.tip_cents;
    sums.orders.insert(e.order_id);
  }
  std::vector<std::pair<std::string, const Sums*>> rows;
  for (const auto& [id, sums] : by_restaurant) rows.emplace_back(id, &sums);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    if (a.second->revenue != b.second->revenue) return a.second->revenue > b.second->revenue;
    return a.first < b.first;
  });
  auto names = latest_names(view);
  RefJson out = RefJson::array();
  for (const auto& [id, sums] : rows) {
    RefJson row;
    row["restaurant_id"] = id;
    row["restaurant_name"] = names.at(id);
    row["revenue"] = money(sums->revenue);
    row["order_count"] = static_cast<int64_t>(sums->orders.size());
    row["net_sales"] = money(sums->net_sales);
    row["tax"] = money(sums->tax);
    row["tips"] = money(sums->tips);
    out.push_back(std::move(row));
  }
  return out;
}

RefJson reference_funnel(const std::vector<Event>& events, int64_t as_of_ms, int64_t window_ms) {
  View view{events, as_of_ms, window_ms};
  // Per restaurant: seatings, and the distinct orders seen at each later stage.
  struct Stages {
    int64_t seated = 0;
    std::set<std::string> ordered, completed, paid;
  };
  std::map<std::string, Stages> by_restaurant;  // sorted by restaurant_id
  for (const Event& e : events) {
    if (!view.in_window(e)) continue;
    Stages& stages = by_restaurant[e.restaurant_id];  // any event type makes the row
    switch (e.type) {
      case EventType::kTableSeated:
        ++stages.seated;
        break;
      case EventType::kOrderPlaced:
        stages.ordered.insert(e.order_id);
        break;
      case EventType::kOrderCompleted:
        stages.completed.insert(e.order_id);
        break;
      case EventType::kPayment:
        stages.paid.insert(e.order_id);
        break;
    }
  }
  auto names = latest_names(view);
  RefJson out = RefJson::array();
  for (const auto& [id, s] : by_restaurant) {
    auto ordered = static_cast<int64_t>(s.ordered.size());
    auto completed = static_cast<int64_t>(s.completed.size());
    auto paid = static_cast<int64_t>(s.paid.size());
    RefJson row;
    row["restaurant_id"] = id;
    row["restaurant_name"] = names.at(id);
    row["seated"] = s.seated;
    row["ordered"] = ordered;
    row["completed"] = completed;
    row["paid"] = paid;
    row["seated_to_ordered"] = ratio(ordered, s.seated);
    row["ordered_to_completed"] = ratio(completed, ordered);
    row["completed_to_paid"] = ratio(paid, completed);
    out.push_back(std::move(row));
  }
  return out;
}

RefJson reference_top_items(const std::vector<Event>& events, int64_t as_of_ms, int64_t window_ms,
                            int limit) {
  View view{events, as_of_ms, window_ms};
  // Per item: totals, distinct orders, and the event its name and category come from.
  struct Item {
    int64_t quantity = 0;
    std::set<std::string> orders;
    const Event* latest = nullptr;
    const LineItem* line = nullptr;
  };
  std::map<std::string, Item> items;
  for (const Event& e : events) {
    if (e.type != EventType::kOrderPlaced || !view.in_window(e)) continue;
    for (const LineItem& line : e.items) {
      Item& item = items[line.item_id];
      item.quantity += line.quantity;
      item.orders.insert(e.order_id);
      // A later event replaces the name; within one event the first line is kept.
      if (item.latest == nullptr || later_event(e, *item.latest)) {
        item.latest = &e;
        item.line = &line;
      }
    }
  }
  std::vector<std::pair<std::string, const Item*>> rows;
  for (const auto& [id, item] : items) rows.emplace_back(id, &item);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    if (a.second->quantity != b.second->quantity) return a.second->quantity > b.second->quantity;
    if (a.second->orders.size() != b.second->orders.size()) {
      return a.second->orders.size() > b.second->orders.size();
    }
    return a.first < b.first;
  });
  RefJson out = RefJson::array();
  for (const auto& [id, item] : rows) {
    if (static_cast<int64_t>(out.size()) >= limit) break;
    RefJson row;
    row["item_id"] = id;
    row["item_name"] = item->line->item_name;
    row["category"] = item->line->category;
    row["quantity"] = item->quantity;
    row["times_ordered"] = static_cast<int64_t>(item->orders.size());
    out.push_back(std::move(row));
  }
  return out;
}

RefJson reference_wait_times(const std::vector<Event>& events, int64_t as_of_ms,
                             int64_t window_ms) {
  View view{events, as_of_ms, window_ms};
  SeatingIndex seatings(view);
  auto placed = earliest_by_order(view, EventType::kOrderPlaced);
  auto completed = earliest_by_order(view, EventType::kOrderCompleted);
  // Per restaurant: exact millisecond sums and sample counts of each average.
  struct Samples {
    int64_t seat_to_order_ms = 0, seat_to_order_n = 0;
    int64_t kitchen_ms = 0, kitchen_n = 0;
    double reported_min = 0;
    int64_t reported_n = 0;
    int64_t to_payment_ms = 0, to_payment_n = 0;
  };
  std::map<std::string, Samples> by_restaurant;
  for (const Event& e : events) {
    if (!view.in_window(e)) continue;
    switch (e.type) {
      case EventType::kTableSeated:
        break;
      case EventType::kOrderPlaced:
        if (auto seated = seatings.seating_for(e)) {
          Samples& s = by_restaurant[e.restaurant_id];
          s.seat_to_order_ms += e.ts_ms - *seated;
          ++s.seat_to_order_n;
        }
        break;
      case EventType::kOrderCompleted: {
        if (auto it = placed.find(e.order_id); it != placed.end()) {
          Samples& s = by_restaurant[e.restaurant_id];
          s.kitchen_ms += e.ts_ms - it->second->ts_ms;
          ++s.kitchen_n;
        }
        if (e.kitchen_time_minutes) {
          Samples& s = by_restaurant[e.restaurant_id];
          s.reported_min += *e.kitchen_time_minutes;
          ++s.reported_n;
        }
        break;
      }
      case EventType::kPayment:
        if (auto it = completed.find(e.order_id); it != completed.end()) {
          Samples& s = by_restaurant[e.restaurant_id];
          s.to_payment_ms += e.ts_ms - it->second->ts_ms;
          ++s.to_payment_n;
        }
        break;
    }
  }
  auto names = latest_names(view);
  RefJson out = RefJson::array();
  for (const auto& [id, s] : by_restaurant) {
    RefJson row;
    row["restaurant_id"] = id;
    row["restaurant_name"] = names.at(id);
    row["avg_seat_to_order_min"] = average_minutes(s.seat_to_order_ms, s.seat_to_order_n);
    row["avg_kitchen_min"] = average_minutes(s.kitchen_ms, s.kitchen_n);
    row["avg_reported_kitchen_min"] =
        s.reported_n == 0 ? RefJson(nullptr)
                          : RefJson(s.reported_min / static_cast<double>(s.reported_n));
    row["avg_completion_to_payment_min"] = average_minutes(s.to_payment_ms, s.to_payment_n);
    row["seat_to_order_samples"] = s.seat_to_order_n;
    row["kitchen_samples"] = s.kitchen_n;
    row["completion_to_payment_samples"] = s.to_payment_n;
    out.push_back(std::move(row));
  }
  return out;
}

RefJson reference_turnover(const std::vector<Event>& events, int64_t as_of_ms, int64_t window_ms) {
  View view{events, as_of_ms, window_ms};
  SeatingIndex seatings(view);
  auto placed = earliest_by_order(view, EventType::kOrderPlaced);
  // Per restaurant: the window's seatings and tables, and time-at-table samples.
  struct Tables {
    int64_t seatings = 0;
    std::set<std::string> tables;
    int64_t table_time_ms = 0, table_time_n = 0;
  };
  std::map<std::string, Tables> by_restaurant;
  for (const Event& e : events) {
    if (!view.in_window(e)) continue;
    if (e.type == EventType::kTableSeated) {
      Tables& t = by_restaurant[e.restaurant_id];
      ++t.seatings;
      t.tables.insert(e.table_id);
    }
  }
  for (const Event& e : events) {
    if (e.type != EventType::kPayment || !view.in_window(e)) continue;
    auto row = by_restaurant.find(e.restaurant_id);
    if (row == by_restaurant.end()) continue;  // no seating in the window: no row at all
    auto p = placed.find(e.order_id);
    if (p == placed.end()) continue;
    if (auto seated = seatings.seating_for(*p->second)) {
      row->second.table_time_ms += e.ts_ms - *seated;
      ++row->second.table_time_n;
    }
  }
  auto names = latest_names(view);
  RefJson out = RefJson::array();
  for (const auto& [id, t] : by_restaurant) {
    auto tables_used = static_cast<int64_t>(t.tables.size());
    RefJson row;
    row["restaurant_id"] = id;
    row["restaurant_name"] = names.at(id);
    row["seatings"] = t.seatings;
    row["tables_used"] = tables_used;
    row["turns_per_table"] = ratio(t.seatings, tables_used);
    row["avg_table_time_min"] = average_minutes(t.table_time_ms, t.table_time_n);
    out.push_back(std::move(row));
  }
  return out;
}

int64_t reference_default_window_ms(std::string_view metric) {
  if (metric == "revenue") return kRevenueWindowMs;
  if (metric == "funnel") return kFunnelWindowMs;
  if (metric == "top-items") return kTopItemsWindowMs;
  if (metric == "wait-times") return kWaitTimesWindowMs;
  if (metric == "turnover") return kTurnoverWindowMs;
  return 0;
}

RefJson reference_metric(std::string_view metric, const std::vector<Event>& events,
                         int64_t as_of_ms, std::optional<int64_t> window_ms,
                         std::optional<int> limit) {
  int64_t window = window_ms.value_or(reference_default_window_ms(metric));
  if (metric == "revenue") return reference_revenue(events, as_of_ms, window);
  if (metric == "funnel") return reference_funnel(events, as_of_ms, window);
  if (metric == "top-items") {
    return reference_top_items(events, as_of_ms, window, limit.value_or(kTopItemsDefaultLimit));
  }
  if (metric == "wait-times") return reference_wait_times(events, as_of_ms, window);
  if (metric == "turnover") return reference_turnover(events, as_of_ms, window);
  return RefJson::array();
}

}  // namespace tp::test
