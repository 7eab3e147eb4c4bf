#pragma once
// The generator's vocabulary: the menu, the restaurants as events name them, and one simulated
// event as typed values. The simulation (simulation.h) produces these, the wire format
// (wire.h) spells them, the noise (noise.h) corrupts them.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "decode/event.h"

namespace tp::generate {

inline constexpr int64_t kSecond = 1000;
inline constexpr int64_t kMinute = 60 * kSecond;
inline constexpr int64_t kHour = 60 * kMinute;
inline constexpr int64_t kDay = 24 * kHour;

enum Category : uint8_t { kStarters, kMains, kSides, kDesserts, kDrinks, kCategoryCount };
inline constexpr std::array<std::string_view, kCategoryCount> kCategoryNames = {
    "starters", "mains", "sides", "desserts", "drinks"};

struct MenuItem {
  std::string_view id;
  std::string_view name;
  Category category;
  int64_t price_cents;
  int weight;  // popularity within the category: makes top-items uneven
};

// One menu for every restaurant; an order line refers to an item by its index here.
inline constexpr std::array<MenuItem, 33> kMenu = {{
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
inline constexpr size_t kMenuSize = kMenu.size();

// The lines of an order: each menu item at most once, in the order first picked.
struct Items {
  uint8_t lines = 0;
  std::array<uint8_t, kMenuSize> item{};  // index into kMenu
  std::array<uint8_t, kMenuSize> qty{};
  int64_t subtotal_cents = 0;
};

// A restaurant as its events and the noise see it (the simulation keeps its seating apart).
struct Restaurant {
  std::string number;  // "001": in restaurant, order and server ids
  std::string id;      // "r-001"
  std::string name;    // changes on a rename
  int table_width = 2;  // digits of a table id ("T07")
  int servers = 0;
  int tax_bp = 0;          // tax rate in basis points
  int64_t next_order = 0;  // sequence number of the restaurant's latest order
};

// One event of the simulation as typed values: enough to write it, write it again differently
// (a conflict) or corrupt it (a malformed line). The last three fields say how it is spelled.
struct SimEvent {
  EventType type = EventType::kTableSeated;
  int64_t t = 0;  // event time (UTC epoch ms)
  const Restaurant* restaurant = nullptr;
  int32_t table = 0;   // 0-based: written as T01 …
  int32_t server = 0;  // 0-based: written as s-001-01 …
  int party_size = 0;
  int64_t order_seq = 0;
  const Items* items = nullptr;  // order_placed
  int64_t kitchen_tenths = 0;    // order_completed: kitchen time in tenths of a minute
  int64_t subtotal = 0;          // cents (order_placed, payment)
  int64_t tax = 0;
  int64_t tip = 0;
  std::string_view method;
  bool naive = false;  // timestamp written without a zone (UTC wall time, microsecond digits)
  uint8_t id_size = 0;
  char id[36] = {};  // event_id: a UUID (36 bytes) or an opaque "evt_" id (24 bytes)
};

}  // namespace tp::generate
