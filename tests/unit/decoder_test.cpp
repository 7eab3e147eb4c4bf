// The decoder against the input contract (../shared/spec/events.md), code by code: the brief's
// own examples, the timestamp grammar and zones, opaque ids, spellings, exact money. Tests
// compare reason codes, never message text. No engine: these run under ASan/UBSan too.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/time.h"
#include "decode/decoder.h"
#include "generate/generator.h"
#include "ingest/recent_ids.h"

namespace tp::decode {
namespace {

// The brief's example payment, with a UUID in event_id; `extra` is spliced in before the '}'.
std::string brief_payment(std::string_view extra = "") {
  return std::string(
             R"({"event_id": "9c4f5d71-6e80-4b12-8d43-5e6f708192a3", "event_type": "payment",)"
             R"( "timestamp": "2025-10-29T19:05:45.123Z", "restaurant_id": "rest_001",)"
             R"( "restaurant_name": "Downtown Location", "table_id": "table_12",)"
             R"( "order_id": "order_789", "subtotal": 50.97, "tax": 4.58, "tip": 10.00,)"
             R"( "total_amount": 65.55, "payment_method": "credit_card")") +
         std::string(extra) + "}";
}

// A table_seated with `timestamp` and `event_id` as given (JSON text, quotes included).
std::string seated(std::string_view timestamp, std::string_view event_id = R"("e-1")") {
  return "{\"event_id\":" + std::string(event_id) +
         R"(,"event_type":"table_seated","timestamp":)" + std::string(timestamp) +
         R"(,"restaurant_id":"r-1","restaurant_name":"One","table_id":"T1","party_size":2,)"
         R"("server_id":"s-1"})";
}

Decoded accept(Decoder& decoder, const std::string& line) {
  auto result = decoder.decode(line);
  if (auto* rejection = std::get_if<Rejection>(&result)) {
    ADD_FAILURE() << reason_code(rejection->reason) << ": " << rejection->detail << "\n" << line;
    return {};
  }
  return std::get<Decoded>(result);
}

std::string_view refuse(Decoder& decoder, const std::string& line) {
  auto result = decoder.decode(line);
  if (std::holds_alternative<Decoded>(result)) return "accepted";
  return reason_code(std::get<Rejection>(result).reason);
}

TEST(Decoder, BriefPaymentIsStoredFieldForField) {
  Decoder decoder;
  Decoded decoded = accept(decoder, brief_payment());
  const Event& e = decoded.event;
  EXPECT_EQ(e.event_id, "9c4f5d71-6e80-4b12-8d43-5e6f708192a3");
  EXPECT_EQ(e.type, EventType::kPayment);
  EXPECT_EQ(e.ts_ms, *parse_rfc3339_ms("2025-10-29T19:05:45.123Z"));
  EXPECT_EQ(e.restaurant_id, "rest_001");
  EXPECT_EQ(e.restaurant_name, "Downtown Location");
  EXPECT_EQ(e.table_id, "table_12");
  EXPECT_EQ(e.order_id, "order_789");
  EXPECT_EQ(e.subtotal_cents, 5097);
  EXPECT_EQ(e.tax_cents, 458);
  EXPECT_EQ(e.tip_cents, 1000);
  EXPECT_EQ(e.total_cents, 6555);
  EXPECT_EQ(e.payment_method, "credit_card");
  EXPECT_FALSE(decoded.total_mismatch);
  EXPECT_FALSE(decoded.naive_timestamp);
}

TEST(Decoder, BriefOrderCarriesPriceAndServer) {
  Decoder decoder;
  Decoded decoded = accept(
      decoder,
      R"({"event_id": "7a2d3b5f-4c6e-4f90-8b21-3c4d5e6f7081", "event_type": "order_placed",)"
      R"( "timestamp": "2025-10-29T18:30:15.456Z", "restaurant_id": "rest_001",)"
      R"( "restaurant_name": "Downtown Location", "table_id": "table_12", "server_id": "server_456",)"
      R"( "order_id": "order_789", "items": [{"item_id": "item_101", "item_name": "Margherita Pizza",)"
      R"( "category": "Pizza", "price": 18.99, "quantity": 2}, {"item_id": "item_205",)"
      R"( "item_name": "Caesar Salad", "category": "Salad", "price": 12.99, "quantity": 1}],)"
      R"( "subtotal": 50.97})");
  ASSERT_EQ(decoded.event.items.size(), 2u);
  EXPECT_EQ(decoded.event.items[0].price_cents, 1899);
  EXPECT_EQ(decoded.event.items[0].quantity, 2u);
  EXPECT_EQ(decoded.event.items[1].item_name, "Caesar Salad");
  EXPECT_EQ(decoded.event.server_id, "server_456");
  EXPECT_FALSE(decoded.subtotal_mismatch);
}

TEST(Decoder, PaymentMethodIsFreeText) {
  Decoder decoder;
  for (std::string method : {"debit_card", "cash", "mobile_payment", "gift_card", "bitcoin",
                             "Visa \u2022\u2022\u2022\u2022 4242"}) {
    std::string line = brief_payment();
    line.replace(line.find("credit_card"), 11, method);
    EXPECT_EQ(accept(decoder, line).event.payment_method, method);
  }
  std::string empty = brief_payment();
  empty.replace(empty.find("credit_card"), 11, "");
  EXPECT_EQ(refuse(decoder, empty), "out_of_range");
  std::string long_method = brief_payment();
  long_method.replace(long_method.find("credit_card"), 11, std::string(65, 'x'));
  EXPECT_EQ(refuse(decoder, long_method), "out_of_range");
}

TEST(Decoder, TimestampForms) {
  Decoder decoder;
  const int64_t base = *parse_rfc3339_ms("2026-11-24T18:05:00Z");
  struct Case {
    const char* text;
    int64_t expected_ms;
    bool naive;
  } cases[] = {
      {"2026-11-24T18:05:00.123456", base + 123, true},  // Python isoformat(), no zone
      {"2026-11-24T18:05:00", base, true},
      {"2026-11-24 18:05:00.5", base + 500, true},
      {"2026-11-24T20:05:00+0200", base, false},
      {"2026-11-24T20:05:00+02:00", base, false},
      {"2026-11-24T15:05:00-03", base, false},
      {"2026-11-24T18:05:00.123456789Z", base + 123, false},
      {"2026-11-24T18:05:00Z", base, false},
  };
  for (const Case& c : cases) {
    Decoded decoded = accept(decoder, seated(std::string("\"") + c.text + "\""));
    EXPECT_EQ(decoded.event.ts_ms, c.expected_ms) << c.text;
    EXPECT_EQ(decoded.naive_timestamp, c.naive) << c.text;
  }
  for (const char* bad : {"2026-02-30T18:05:00Z", "2026-11-24T24:00:00Z", "2026-11-24T18:05:60Z",
                          "2026-11-24", "1700000000", "2026-11-24t18:05:00z",
                          "2026-11-24T18:05:00.Z", "2026-11-24T18:05:00.1234567890",
                          "2026-11-24T18:05:00+2", "2026-11-24T18:05:00+24:00",
                          "2026-11-24  18:05:00", "24/11/2026 18:05:00"}) {
    EXPECT_EQ(refuse(decoder, seated(std::string("\"") + bad + "\"")), "invalid_timestamp") << bad;
  }
  EXPECT_EQ(refuse(decoder, seated("1700000000")), "invalid_timestamp");  // an epoch number
  EXPECT_EQ(refuse(decoder, seated("true")), "wrong_type");
}

TEST(Decoder, ZonelessTimesAreReadInTheDefaultZone) {
  auto zone = TimeZone::load("Europe/Berlin");
  ASSERT_TRUE(zone.ok()) << zone.error().to_string();
  Decoder decoder({1 << 20, zone.value()});
  // Winter: UTC+1; summer: UTC+2; a written offset wins over the default zone.
  EXPECT_EQ(accept(decoder, seated("\"2026-11-24T19:05:00\"")).event.ts_ms,
            *parse_rfc3339_ms("2026-11-24T18:05:00Z"));
  EXPECT_EQ(accept(decoder, seated("\"2026-07-24T20:05:00.000000\"")).event.ts_ms,
            *parse_rfc3339_ms("2026-07-24T18:05:00Z"));
  EXPECT_EQ(accept(decoder, seated("\"2026-07-24T18:05:00Z\"")).event.ts_ms,
            *parse_rfc3339_ms("2026-07-24T18:05:00Z"));
  EXPECT_FALSE(TimeZone::load("Mars/Olympus").ok());
}

TEST(TimeZone, GapsAndRepeatsAreReadAsPythonFoldZero) {
  auto zone = TimeZone::load("Europe/Berlin");
  ASSERT_TRUE(zone.ok());
  auto wall = [](const char* text) { return parse_iso8601(text)->wall_ms; };
  // 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice; the first (CEST, UTC+2) is taken.
  EXPECT_EQ(zone->to_utc_ms(wall("2026-10-25T02:30:00")), *parse_rfc3339_ms("2026-10-25T00:30:00Z"));
  // 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not exist; read with the offset before (+1).
  EXPECT_EQ(zone->to_utc_ms(wall("2026-03-29T02:30:00")), *parse_rfc3339_ms("2026-03-29T01:30:00Z"));
  EXPECT_EQ(zone->to_utc_ms(wall("2026-03-29T02:30:00.250")) % 1000, 250);
}

TEST(Decoder, OpaqueIdsAndUuidCase) {
  Decoder decoder;
  EXPECT_EQ(accept(decoder, seated("\"2026-11-24T18:05:00Z\"", R"("evt_abc123")")).event.event_id,
            "evt_abc123");
  EXPECT_EQ(accept(decoder, seated("\"2026-11-24T18:05:00Z\"", R"("evt_ABC123")")).event.event_id,
            "evt_ABC123");
  EXPECT_EQ(accept(decoder, seated("\"2026-11-24T18:05:00Z\"",
                                   R"("BBBBBBBB-BBBB-4BBB-8BBB-BBBBBBBBBBBB")"))
                .event.event_id,
            "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb");
  EXPECT_EQ(accept(decoder, seated("\"2026-11-24T18:05:00Z\"", "\"" + std::string(128, 'x') + "\""))
                .event.event_id.size(),
            128u);
  EXPECT_EQ(refuse(decoder, seated("\"2026-11-24T18:05:00Z\"", "\"" + std::string(129, 'x') + "\"")),
            "invalid_event_id");
  EXPECT_EQ(refuse(decoder, seated("\"2026-11-24T18:05:00Z\"", R"("")")), "invalid_event_id");
  EXPECT_EQ(refuse(decoder, seated("\"2026-11-24T18:05:00Z\"", "42")), "wrong_type");
  // In memory: a UUID's key ignores case, an opaque id's does not.
  EXPECT_EQ(ingest::id_key("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"),
            ingest::id_key("BBBBBBBB-BBBB-4BBB-8BBB-BBBBBBBBBBBB"));
  EXPECT_FALSE(ingest::id_key("evt_abc") == ingest::id_key("evt_ABC"));
  EXPECT_FALSE(ingest::id_key("evt_abc") == ingest::id_key("evt_abd"));
}

TEST(Decoder, LocationSpellings) {
  Decoder decoder;
  auto line = [](std::string_view fields) {
    return R"({"event_id":"e-1","event_type":"table_seated","timestamp":"2026-11-24T18:05:00Z",)" +
           std::string(fields) + R"(,"table_id":"T1","party_size":2,"server_id":"s-1"})";
  };
  Decoded decoded = accept(decoder, line(R"("location_id":"loc_9","location_name":"Kiosk")"));
  EXPECT_EQ(decoded.event.restaurant_id, "loc_9");
  EXPECT_EQ(decoded.event.restaurant_name, "Kiosk");
  accept(decoder, line(R"("restaurant_id":"a","location_id":"a","restaurant_name":"A")"));
  EXPECT_EQ(refuse(decoder, line(R"("restaurant_id":"a","location_id":"b","restaurant_name":"A")")),
            "conflicting_fields");
  EXPECT_EQ(
      refuse(decoder, line(R"("restaurant_id":"a","restaurant_name":"A","location_name":"B")")),
      "conflicting_fields");
  EXPECT_EQ(refuse(decoder, line(R"("restaurant_name":"A")")), "missing_field");
}

TEST(Decoder, StrictJson) {
  Decoder decoder;
  EXPECT_EQ(refuse(decoder, brief_payment() + " {}"), "not_json");       // trailing content
  EXPECT_EQ(refuse(decoder, brief_payment(R"(, "note": tru)")), "not_json");  // in an ignored field
  EXPECT_EQ(refuse(decoder, brief_payment(R"(, "note": [1, 2,])")), "not_json");
  EXPECT_EQ(refuse(decoder, brief_payment(R"(, "note": 01)")), "not_json");
  EXPECT_EQ(refuse(decoder, "[1, 2]"), "not_object");
  EXPECT_EQ(refuse(decoder, "\"payment\""), "not_object");
  EXPECT_EQ(refuse(decoder, "[1, 2"), "not_json");
  // Unclosed containers once made the parser read past the line (found by fuzzing).
  for (const char* unclosed : {"[[[[", "{{{{", "[{", "{\"a\":[", "{\"a\":\"b", "[]]", "{}}", "[}"}) {
    EXPECT_EQ(refuse(decoder, unclosed), "not_json") << unclosed;
  }
  EXPECT_EQ(refuse(decoder, brief_payment(R"(, "note": "a ] } [ {")")), "accepted");
  EXPECT_EQ(refuse(decoder, "\xff\xfe{}"), "invalid_utf8");
  // Unknown fields are ignored, whatever they hold.
  accept(decoder, brief_payment(R"(, "note": {"nested": [1, 2.5e3, null, true, "x"]})"));
  // A key given twice is ambiguous: refused, also inside an item and for ignored fields.
  EXPECT_EQ(refuse(decoder, brief_payment(R"(, "tip": 3)")), "duplicate_key");
  EXPECT_EQ(refuse(decoder, brief_payment(R"(, "note": 1, "note": 2)")), "duplicate_key");
  EXPECT_EQ(refuse(decoder, brief_payment(R"(, "t\u0069p": 3)")), "duplicate_key");  // escaped
}

// `line` with the first `from` replaced by `to`.
std::string with(std::string line, std::string_view from, std::string_view to) {
  line.replace(line.find(from), from.size(), to);
  return line;
}

TEST(Decoder, NumbersOfTheWrongTypeOrRange) {
  Decoder decoder;
  const std::string table = seated("\"2026-11-24T18:05:00Z\"");
  EXPECT_EQ(refuse(decoder, with(table, "\"party_size\":2", "\"party_size\":\"4\"")), "wrong_type");
  EXPECT_EQ(refuse(decoder, with(brief_payment(), "50.97", "\"50.97\"")), "wrong_type");
  EXPECT_EQ(refuse(decoder, with(table, "\"party_size\":2", "\"party_size\":2.5")), "wrong_type");
  EXPECT_EQ(accept(decoder, with(table, "\"party_size\":2", "\"party_size\":2.0")).event.party_size,
            2);
  EXPECT_EQ(refuse(decoder, with(table, "\"party_size\":2", "\"party_size\":18446744073709551616")),
            "out_of_range");
  EXPECT_EQ(refuse(decoder, with(brief_payment(), "10.00", "-0.01")), "out_of_range");
}

// Money is read from the number's text: half away from zero on the exact decimal value.
TEST(Decoder, MoneyIsExactFromTheText) {
  struct Case {
    const char* text;
    int64_t cents;
  } cases[] = {{"1.005", 101},     {"0.285", 29},       {"2.675", 268},     {"1.004999", 100},
               {"10.00", 1000},    {"1E2", 10000},      {"8.25e0", 825},    {"0.5e-2", 1},
               {"0.004999", 0},    {"-0", 0},           {"-0.00", 0},       {"0", 0},
               {"123456.785", 12345679}, {"9999999999.99", 999999999999}, {"1e-400", 0},
               {"0.00500000000000000000001", 1}};
  for (const Case& c : cases) {
    auto number = parse_json_number(c.text);
    ASSERT_TRUE(number) << c.text;
    ScaledInteger scaled = scale_decimal(*number, 2, true, 999'999'999'999LL);
    EXPECT_EQ(scaled.status, ScaledInteger::Status::kOk) << c.text;
    EXPECT_EQ(scaled.value, c.cents) << c.text;
  }
  for (const char* too_large : {"10000000000", "1e20", "1e999999999"}) {
    EXPECT_EQ(scale_decimal(*parse_json_number(too_large), 2, true, 999'999'999'999LL).status,
              ScaledInteger::Status::kTooLarge)
        << too_large;
  }
  for (const char* not_json : {"01", "1.", ".5", "+1", "1e", "--1", "0x10", ""}) {
    EXPECT_FALSE(parse_json_number(not_json)) << not_json;
  }
  EXPECT_EQ(scale_decimal(*parse_json_number("2.5"), 0, false, 100).status,
            ScaledInteger::Status::kNotIntegral);
  EXPECT_EQ(scale_decimal(*parse_json_number("250e-2"), 0, false, 100).status,
            ScaledInteger::Status::kNotIntegral);
  EXPECT_EQ(scale_decimal(*parse_json_number("2.50e1"), 0, false, 100).value, 25);
}

// The content hash is stored: the same event must hash as earlier versions hashed it, or every
// redelivery of a stored event would count as a conflict (values from the previous decoder).
TEST(Decoder, ContentHashIsStableAcrossVersions) {
  Decoder decoder;
  std::string payment = brief_payment();
  payment.replace(payment.find("credit_card"), 11, "card");
  payment.replace(payment.find("9c4f5d71"), 8, "9C4F5D71");  // case does not matter
  EXPECT_EQ(accept(decoder, payment).content_hash, 13724576075500997227ULL);
  EXPECT_EQ(accept(decoder,
                   R"({"event_id":"8b3e4c60-5d7f-4a01-9c32-4d5e6f708192","event_type":"order_completed",)"
                   R"("timestamp":"2025-10-29T18:55:30.789Z","restaurant_id":"rest_001",)"
                   R"("restaurant_name":"Downtown Location","table_id":"table_12",)"
                   R"("order_id":"order_789","kitchen_time_minutes":22.5})")
                .content_hash,
            2143133348877295267ULL);
}

}  // namespace
}  // namespace tp::decode

namespace tp::decode {
namespace {

// The simulator and the decoder agree: every valid line it writes (zone-less times, opaque
// ids, location_* spellings included) is accepted, and each malformed line is refused with
// exactly the reason the generator says it must be.
TEST(Decoder, AcceptsTheSimulationAndRefusesItsMalformedLinesForTheirReasons) {
  generate::GeneratorOptions options;
  options.max_events = 30000;
  options.seed = 7;
  options.malformed_rate = 0.05;
  options.conflict_rate = 0.01;
  options.naive_rate = 0.3;
  options.opaque_id_rate = 0.2;
  Decoder decoder;
  std::map<std::string, int> refused_for;
  for (bool location_fields : {false, true}) {
    options.location_fields = location_fields;
    generate::Generator generator(options);
    while (auto line = generator.next_line()) {
      auto result = decoder.decode(line->text);
      if (line->kind != generate::LineKind::kMalformed) {
        ASSERT_TRUE(std::holds_alternative<Decoded>(result))
            << reason_code(std::get<Rejection>(result).reason) << ": "
            << std::get<Rejection>(result).detail << "\n"
            << line->text;
        continue;
      }
      ASSERT_TRUE(line->expected_reason.has_value());
      ASSERT_TRUE(std::holds_alternative<Rejection>(result)) << line->text;
      EXPECT_EQ(reason_code(std::get<Rejection>(result).reason),
                reason_code(*line->expected_reason))
          << std::get<Rejection>(result).detail << "\n"
          << line->text;
      ++refused_for[std::string(reason_code(*line->expected_reason))];
    }
  }
  EXPECT_GE(refused_for.size(), 10u);
}

}  // namespace
}  // namespace tp::decode

namespace tp::decode {
namespace {

// The parser reads past the end of a line into the buffer's padding: whatever the lengths of
// the lines before it, a valid line is accepted (lines just shorter than the buffer were once
// refused as not_json).
TEST(Decoder, AcceptsLinesOfEveryLengthInAnyOrder) {
  Decoder decoder;
  for (size_t pad : {0, 700, 10, 300, 1, 699, 64, 1000, 5, 2500, 2400, 2499}) {
    for (size_t extra = 0; extra < 130; ++extra) {
      std::string line = brief_payment(R"(, "note": ")" + std::string(pad + extra, 'x') + "\"");
      ASSERT_TRUE(std::holds_alternative<Decoded>(decoder.decode(line))) << line.size();
    }
  }
}

}  // namespace
}  // namespace tp::decode
