#include "generate/noise.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/time.h"
#include "generate/simulation.h"

namespace tp::generate {
namespace {

// The type each typed kind (kBadPartySize onwards) needs.
constexpr int kFirstTyped = static_cast<int>(Malformation::kBadPartySize);
constexpr std::array<EventType, kMalformationCount - kFirstTyped> kTypeOfKind = {
    EventType::kTableSeated, EventType::kOrderPlaced,    EventType::kOrderPlaced,
    EventType::kOrderPlaced, EventType::kOrderCompleted, EventType::kPayment};

}  // namespace

std::optional<EventType> malformation_type(Malformation kind) {
  const int index = static_cast<int>(kind);
  if (index < kFirstTyped) return std::nullopt;
  return kTypeOfKind[static_cast<size_t>(index - kFirstTyped)];
}

Noise::Noise(const GeneratorOptions& options)
    : late_rate_(options.late_rate),
      duplicate_rate_(options.duplicate_rate),
      conflict_rate_(options.conflict_rate),
      malformed_rate_(options.malformed_rate),
      max_late_ms_(options.max_late_ms),
      restaurants_(options.restaurants),
      rng_(mix(options.seed, 0x6e6f697365ULL)) {}

Delivery Noise::decide() {
  Delivery d;
  d.late = rng_.chance(late_rate_);
  d.duplicate = rng_.chance(duplicate_rate_);
  d.conflict = rng_.chance(conflict_rate_);
  d.malformed = rng_.chance(malformed_rate_);
  if (d.late) d.late_by_ms = rng_.range(std::max<int64_t>(1, max_late_ms_ / 5), max_late_ms_);
  if (d.duplicate) d.duplicate_after_ms = rng_.range(100, 2 * kMinute);
  if (d.conflict) d.conflict_after_ms = rng_.range(kSecond, 10 * kMinute);
  return d;
}

Malformed Noise::malformed(const SimEvent& source, Wire& wire) {
  SimEvent ev = source;
  const uint64_t hi = rng_.next();
  make_uuid(hi, rng_.next(), ev);
  const auto kind = static_cast<Malformation>(rng_.range(0, kMalformationCount - 1));
  return corrupt(ev, kind, wire);
}

Malformed Noise::malformed(const SimEvent& source, Malformation kind, Wire& wire) {
  SimEvent ev = source;
  const uint64_t hi = rng_.next();
  make_uuid(hi, rng_.next(), ev);
  return corrupt(ev, kind, wire);
}

// Fills `ev` as a plausible event of `type` at the same place and time, from the noise stream.
void Noise::synthesize(SimEvent& ev, EventType type) {
  ev.type = type;
  const Restaurant& r = *ev.restaurant;
  switch (type) {
    case EventType::kTableSeated:
      ev.party_size = static_cast<int>(rng_.range(1, 8));
      ev.server = static_cast<int32_t>(rng_.range(0, r.servers - 1));
      break;
    case EventType::kOrderPlaced:
      fill_order(rng_, items_, static_cast<int>(rng_.range(1, 6)), 0);
      ev.order_seq = std::max<int64_t>(1, r.next_order);
      ev.items = &items_;
      ev.subtotal = items_.subtotal_cents;
      break;
    case EventType::kOrderCompleted:
      ev.order_seq = std::max<int64_t>(1, r.next_order);
      ev.kitchen_tenths = rng_.range(80, 300);
      break;
    case EventType::kPayment:
      ev.order_seq = std::max<int64_t>(1, r.next_order);
      ev.subtotal = rng_.range(500, 15000);
      ev.tax = ev.subtotal * r.tax_bp / 10000;
      ev.tip = ev.subtotal * rng_.range(0, 25) / 100;
      ev.method = "credit_card";
      break;
  }
}

// Writes `ev` (of the kind's type, synthesized if the source's is another) with the kind's
// defect; each branch names the reason where it writes the defect.
Malformed Noise::corrupt(SimEvent& ev, Malformation kind, Wire& wire) {
  using Json = nlohmann::ordered_json;
  using decode::Reason;
  if (const auto type = malformation_type(kind); type && ev.type != *type) synthesize(ev, *type);
  wire.write(ev, 0, scratch_);
  const std::string text(scratch_.data(), scratch_.size());
  Json j = Json::parse(text);
  // The line as edited in `j`, refused for `reason`.
  auto edited = [&j](Reason reason) { return Malformed{j.dump(), reason}; };
  const std::string id_key(wire.keys().id);
  const std::string name_key(wire.keys().name);
  switch (kind) {
    case Malformation::kCutShort: {  // between characters, so still valid UTF-8
      auto cut = static_cast<size_t>(rng_.range(5, static_cast<int64_t>(text.size()) - 2));
      while ((static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
      return {text.substr(0, cut), Reason::kNotJson};
    }
    case Malformation::kGarbage: {
      static constexpr std::array<std::string_view, 5> kGarbageLines = {
          "POS-7 heartbeat ok", "<html><head><title>502 Bad Gateway</title></head></html>",
          "event_type=table_seated&table_id=T04&party_size=2",
          "{'event_id': 'n/a', 'event_type': 'payment'}", "{\"event_id\":"};
      return {std::string(pick(kGarbageLines)), Reason::kNotJson};
    }
    case Malformation::kNotAnObject: {
      const int64_t which = rng_.range(0, 3);
      if (which == 0) return {"[" + text + "]", Reason::kNotObject};
      if (which == 1) {
        return {fmt::format("\"{}\"", event_type_name(ev.type)), Reason::kNotObject};
      }
      if (which == 2) return {"42", Reason::kNotObject};
      return {"null", Reason::kNotObject};
    }
    case Malformation::kCommonFieldMissing: {
      const std::array<std::string, 6> common = {"event_id", "event_type", "timestamp",
                                                 id_key,     name_key,     "table_id"};
      j.erase(common[static_cast<size_t>(rng_.range(0, common.size() - 1))]);
      return edited(Reason::kMissingField);
    }
    case Malformation::kTypeFieldMissing: {
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
      j.erase(fields[static_cast<size_t>(rng_.range(0, static_cast<int64_t>(fields.size()) - 1))]);
      return edited(Reason::kMissingField);
    }
    case Malformation::kBadEventId: {  // any non-empty id up to 128 bytes is valid
      const std::string id(ev.id, ev.id_size);
      const int64_t which = rng_.range(0, 3);
      if (which == 0) {
        j["event_id"] = "";
        return edited(Reason::kInvalidEventId);
      }
      if (which <= 2) {  // 129 bytes (one too many), or 144 (four UUIDs run together)
        j["event_id"] = which == 1 ? (id + id + id + id).substr(0, 129) : id + id + id + id;
        return edited(Reason::kInvalidEventId);
      }
      j["event_id"] = static_cast<int64_t>(rng_.range(1, 999999999));
      return edited(Reason::kWrongType);
    }
    case Malformation::kBadTimestamp: {  // zone-less, offsets and ' ' are fine
      const std::string ts = format_iso_ms(ev.t);  // "2026-11-24T18:03:12.345Z"
      const int64_t which = rng_.range(0, 7);
      if (which == 0) j["timestamp"] = ts.substr(0, 5) + "02-30" + ts.substr(10);  // no such day
      if (which == 1) j["timestamp"] = ts.substr(0, 5) + "13" + ts.substr(7);  // no such month
      if (which == 2) {  // dd/mm/yyyy hh:mm:ss
        j["timestamp"] = ts.substr(8, 2) + "/" + ts.substr(5, 2) + "/" + ts.substr(0, 4) + " " +
                         ts.substr(11, 8);
      }
      if (which == 3) j["timestamp"] = ts.substr(0, 11) + "24" + ts.substr(13);  // hour 24
      if (which == 4) j["timestamp"] = ts.substr(0, 17) + "60" + ts.substr(19);  // second 60
      if (which == 5) j["timestamp"] = ts.substr(0, 10);                         // no time part
      if (which == 6) j["timestamp"] = ev.t;                            // epoch ms, a JSON number
      if (which == 7) j["timestamp"] = std::to_string(ev.t / kSecond);  // epoch s, digits
      return edited(Reason::kInvalidTimestamp);
    }
    case Malformation::kUnknownType: {  // the four are exact, lower case
      static constexpr std::array<std::string_view, 7> kTypes = {
          "table_cleared", "order_cancelled", "refund", "tip_adjusted", "", "PAYMENT",
          "Order_Placed"};
      j["event_type"] = std::string(pick(kTypes));
      return edited(Reason::kUnknownEventType);
    }
    case Malformation::kCommonFieldWrongType: {
      const int64_t which = rng_.range(0, 3);
      if (which == 0) j[id_key] = std::stoi(ev.restaurant->number);
      if (which == 1) j["table_id"] = ev.table + 1;
      if (which == 2) j["event_type"] = static_cast<int>(ev.type);
      if (which == 3) j[name_key] = Json::array({ev.restaurant->name});
      return edited(Reason::kWrongType);
    }
    case Malformation::kEmptyOrLongString: {
      const int64_t which = rng_.range(0, 4);
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
    case Malformation::kBothSpellings: {
      if (rng_.chance(0.5)) {
        // An id of no restaurant of this stream: r-006 when there are 5.
        j[std::string(wire.other_keys().id)] =
            fmt::format("r-{:0{}}", restaurants_ + 1, ev.restaurant->number.size());
      } else {
        j[std::string(wire.other_keys().name)] = ev.restaurant->name + " (old)";
      }
      return edited(Reason::kConflictingFields);
    }
    case Malformation::kKeyTwice: {  // raw text: a JSON library would merge the two
      std::string twice = text.substr(0, text.size() - 1);
      const int64_t which = rng_.range(0, 2);
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
    case Malformation::kBadPartySize: {
      const int64_t which = rng_.range(0, 4);
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
    case Malformation::kNegativePrice: {
      auto& item = j["items"][0];
      item["price"] = -item["price"].get<double>();
      if (item["price"].get<double>() == 0) item["price"] = -1.5;
      return edited(Reason::kOutOfRange);
    }
    case Malformation::kNoItems:
      j["items"] = Json::array();
      j["subtotal"] = 0;
      return edited(Reason::kEmptyItems);
    case Malformation::kBrokenItem: {
      const int64_t which = rng_.range(0, 5);
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
    case Malformation::kBadKitchenTime: {
      const int64_t which = rng_.range(0, 2);
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
    case Malformation::kBadPayment: {
      const int64_t which = rng_.range(0, 4);
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
  std::abort();  // not reached: every kind returns above
}

}  // namespace tp::generate
