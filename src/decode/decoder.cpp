#include "decode/decoder.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstring>

namespace tp::decode {
namespace {

namespace od = simdjson::ondemand;
using od::json_type;

constexpr size_t kMaxEventIdBytes = 128;       // the contract's limit for event_id
constexpr size_t kMaxRestaurantIdBytes = 64;   // … for restaurant_id / location_id
constexpr size_t kMaxPaymentMethodBytes = 64;  // … for payment_method
constexpr size_t kMaxStringBytes = 200;        // … for every other string
constexpr size_t kMaxItems = 200;
// Decimal(12, 2), the stored money type, holds up to 9 999 999 999.99.
constexpr int64_t kMaxMoneyCents = 999'999'999'999LL;

// A refusal raised while checking the fields; caught once at the top of decode().
struct Refused {
  Reason reason;
  std::string detail;
};

std::string_view json_type_name(json_type type) {
  switch (type) {
    case json_type::array:
      return "array";
    case json_type::object:
      return "object";
    case json_type::string:
      return "string";
    case json_type::boolean:
      return "boolean";
    case json_type::null:
      return "null";
    case json_type::number:
      return "number";
  }
  return "value";
}

std::string_view trim_token(std::string_view token) {
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t' || token.back() == '\n' ||
                            token.back() == '\r')) {
    token.remove_suffix(1);
  }
  return token;
}

// On-Demand (simdjson 3.0) trusts a document to close what it opens: walking an unclosed one
// reads past its last token, beyond the line (fuzzing found "[[[["). So the brackets are
// matched first, outside strings, and a line that does not close them is not JSON.
bool brackets_match(std::string_view text) {
  constexpr size_t kMaxDepth = 1024;  // simdjson's own default depth limit
  char open[kMaxDepth];
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (depth == kMaxDepth) return false;
        open[depth++] = c;
        break;
      case ']':
      case '}':
        if (depth == 0 || open[--depth] != (c == ']' ? '[' : '{')) return false;
        break;
      default:
        break;
    }
  }
  return depth == 0 && !in_string;
}

// ---- reading: the whole line is checked as JSON, the contract's fields kept in slots ----

// Checks a value and everything in it (On-Demand checks only what is read), keeping a string's
// text or a number's token in `out` when given.
simdjson::error_code read_value(od::value value, RawValue* out) {
  json_type type;
  if (auto error = value.type().get(type)) return error;
  if (out != nullptr) {
    out->present = true;
    out->type = type;
  }
  switch (type) {
    case json_type::object: {
      od::object object;
      if (auto error = value.get_object().get(object)) return error;
      for (auto field : object) {
        std::string_view key;
        if (auto error = field.unescaped_key().get(key)) return error;
        if (auto error = read_value(field.value(), nullptr)) return error;
      }
      return simdjson::SUCCESS;
    }
    case json_type::array: {
      od::array array;
      if (auto error = value.get_array().get(array)) return error;
      for (auto element : array) {
        od::value inner;
        if (auto error = element.get(inner)) return error;
        if (auto error = read_value(inner, nullptr)) return error;
      }
      return simdjson::SUCCESS;
    }
    case json_type::string: {
      std::string_view text;
      if (auto error = value.get_string().get(text)) return error;
      if (out != nullptr) out->text = text;
      return simdjson::SUCCESS;
    }
    case json_type::number: {
      std::string_view token = trim_token(value.raw_json_token());
      if (!parse_json_number(token)) return simdjson::NUMBER_ERROR;
      if (out != nullptr) out->text = token;
      return simdjson::SUCCESS;
    }
    case json_type::boolean: {
      bool flag;
      return value.get_bool().get(flag);
    }
    case json_type::null: {
      bool is_null = false;
      if (auto error = value.is_null().get(is_null)) return error;
      return is_null ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

// The keys one object named so far: a bit per contract field (the common case costs no
// hashing), a set for the others.
class KeySet {
 public:
  explicit KeySet(absl::flat_hash_set<std::string_view>& others) : others_(others) {
    others_.clear();
  }
  // False if the object already named `key` (`slot`: its contract field number, or -1).
  bool add(std::string_view key, int slot) {
    if (slot < 0) return others_.insert(key).second;
    const uint32_t bit = 1u << slot;
    if ((known_ & bit) != 0) return false;
    known_ |= bit;
    return true;
  }

 private:
  uint32_t known_ = 0;
  absl::flat_hash_set<std::string_view>& others_;
};

// ---- checking: fixed order, first failure wins ----

[[noreturn]] void refuse(Reason reason, std::string detail) {
  throw Refused{reason, std::move(detail)};
}

const RawValue& required(const RawValue& value, std::string_view name, std::string_view where) {
  if (!value.present) refuse(Reason::kMissingField, fmt::format("{}{}", where, name));
  return value;
}

void expect_type(const RawValue& value, json_type type, std::string_view name,
                 std::string_view where) {
  if (value.type != type) {
    refuse(Reason::kWrongType, fmt::format("{}{}: expected {}, got {}", where, name,
                                           json_type_name(type), json_type_name(value.type)));
  }
}

std::string_view string_field(const RawValue& raw, std::string_view name, size_t max_bytes,
                              std::string_view where = "") {
  const RawValue& value = required(raw, name, where);
  expect_type(value, json_type::string, name, where);
  if (value.text.empty() || value.text.size() > max_bytes) {
    refuse(Reason::kOutOfRange, fmt::format("{}{}: length {} not in 1..{}", where, name,
                                            value.text.size(), max_bytes));
  }
  return value.text;
}

// A field with two spellings (restaurant_id / location_id): whichever is given; both only
// when they agree.
std::string_view aliased_string_field(const RawValue& primary, std::string_view primary_name,
                                      const RawValue& alias, std::string_view alias_name,
                                      size_t max_bytes) {
  if (!alias.present) return string_field(primary, primary_name, max_bytes);
  if (!primary.present) return string_field(alias, alias_name, max_bytes);
  std::string_view first = string_field(primary, primary_name, max_bytes);
  std::string_view second = string_field(alias, alias_name, max_bytes);
  if (first != second) {
    refuse(Reason::kConflictingFields, fmt::format("{} '{}' and {} '{}' differ", primary_name,
                                                   first, alias_name, second));
  }
  return first;
}

JsonDecimal number_field(const RawValue& raw, std::string_view name, std::string_view where) {
  const RawValue& value = required(raw, name, where);
  expect_type(value, json_type::number, name, where);
  return *parse_json_number(value.text);  // checked while reading
}

int64_t integer_field(const RawValue& raw, std::string_view name, int64_t min, int64_t max,
                      std::string_view where = "") {
  JsonDecimal number = number_field(raw, name, where);
  ScaledInteger scaled = scale_decimal(number, 0, false, INT64_MAX / 10);
  if (scaled.status == ScaledInteger::Status::kNotIntegral) {
    refuse(Reason::kWrongType,
           fmt::format("{}{}: expected integer, got {}", where, name, raw.text));
  }
  int64_t value = number.negative ? -scaled.value : scaled.value;
  if (scaled.status == ScaledInteger::Status::kTooLarge || value < min || value > max) {
    refuse(Reason::kOutOfRange, fmt::format("{}{}: {} not in {}..{}", where, name, raw.text, min, max));
  }
  return value;
}

// Money in cents from the number's text, rounded half away from zero (never through a float).
int64_t money_field(const RawValue& raw, std::string_view name, std::string_view where = "") {
  JsonDecimal number = number_field(raw, name, where);
  ScaledInteger cents = scale_decimal(number, 2, true, kMaxMoneyCents);
  if (number.negative && cents.value != 0) {
    refuse(Reason::kOutOfRange, fmt::format("{}{}: {} is negative", where, name, raw.text));
  }
  if (cents.status == ScaledInteger::Status::kTooLarge) {
    refuse(Reason::kOutOfRange, fmt::format("{}{}: {} exceeds the largest storable amount "
                                            "9999999999.99",
                                            where, name, raw.text));
  }
  return cents.value;
}

// A non-negative quantity that is not money (kitchen minutes): a double, from its text.
double measure_field(const RawValue& raw, std::string_view name) {
  JsonDecimal number = number_field(raw, name, "");
  double value = 0;
  auto [end, error] = std::from_chars(raw.text.data(), raw.text.data() + raw.text.size(), value);
  if (error == std::errc::result_out_of_range) {
    if (number.exponent >= 0) {
      refuse(Reason::kOutOfRange, fmt::format("{}: {} is too large", name, raw.text));
    }
    value = 0;  // a tiny positive number
  }
  if (number.negative && value != 0) {
    refuse(Reason::kOutOfRange, fmt::format("{}: {} is negative", name, raw.text));
  }
  return std::fabs(value);
}

// FNV-1a over the canonical form of an event, fed piece by piece (no string is built): each
// field's text followed by 0x1f. The bytes are those earlier versions hashed, so stored hashes
// still tell redeliveries from conflicts.
class CanonicalHash {
 public:
  void field(std::string_view text) {
    bytes(text);
    bytes("\x1f");
  }
  void integer(int64_t value) { field(fmt::format_int(value).str()); }
  void bytes(std::string_view text) { hash_ = stable_hash(text, hash_); }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 1469598103934665603ULL;
};

// The normalised content of an event, hashed to tell exact redeliveries from conflicts.
uint64_t content_hash(const Event& event) {
  CanonicalHash hash;
  hash.field(event.event_id);
  hash.field(event_type_name(event.type));
  hash.integer(event.ts_ms);
  hash.field(event.restaurant_id);
  hash.field(event.restaurant_name);
  hash.field(event.table_id);
  hash.field(event.order_id);
  hash.field(event.server_id);
  hash.integer(event.party_size);
  for (const auto& item : event.items) {
    hash.field(item.item_id);
    hash.field(item.item_name);
    hash.field(item.category);
    hash.integer(item.quantity);
    hash.integer(item.price_cents);
  }
  for (int64_t cents : {event.subtotal_cents, event.tax_cents, event.tip_cents}) {
    hash.bytes(fmt::format_int(cents).str());
    hash.bytes("|");
  }
  hash.integer(event.total_cents);
  hash.field(event.payment_method);
  if (event.kitchen_time_minutes) {
    fmt::memory_buffer text;
    fmt::format_to(std::back_inserter(text), "{}", *event.kitchen_time_minutes);
    hash.field({text.data(), text.size()});
  } else {
    hash.field("-");
  }
  return hash.value();
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

// A UUID's canonical form: its hex digits in lower case.
std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c | 0x20);
  }
  return out;
}

void check_items(const RawValue& raw, const std::vector<RawItem>& items, Event& event) {
  required(raw, "items", "");
  expect_type(raw, json_type::array, "items", "");
  if (items.empty()) refuse(Reason::kEmptyItems, "items: empty array");
  if (items.size() > kMaxItems) {
    refuse(Reason::kOutOfRange, fmt::format("items: {} items, at most {}", items.size(), kMaxItems));
  }
  event.items.reserve(items.size());
  for (size_t index = 0; index < items.size(); ++index) {
    const RawItem& item = items[index];
    std::string where = fmt::format("items[{}].", index);
    if (item.type != json_type::object) {
      refuse(Reason::kWrongType, fmt::format("items[{}]: expected object, got {}", index,
                                             json_type_name(item.type)));
    }
    LineItem line;
    line.item_id = string_field(item.item_id, "item_id", kMaxStringBytes, where);
    line.item_name = string_field(item.item_name, "item_name", kMaxStringBytes, where);
    line.category = string_field(item.category, "category", kMaxStringBytes, where);
    line.price_cents = money_field(item.price, "price", where);
    line.quantity = static_cast<uint32_t>(integer_field(item.quantity, "quantity", 1, 1000, where));
    event.items.push_back(std::move(line));
  }
}

}  // namespace

uint64_t stable_hash(std::string_view data, uint64_t seed) {
  uint64_t hash = seed;
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

bool is_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!is_hex(c)) {
      return false;
    }
  }
  return true;
}

std::optional<JsonDecimal> parse_json_number(std::string_view token) {
  JsonDecimal number;
  size_t pos = 0;
  auto is_digit = [&](size_t at) { return at < token.size() && token[at] >= '0' && token[at] <= '9'; };
  if (pos < token.size() && token[pos] == '-') {
    number.negative = true;
    ++pos;
  }
  size_t start = pos;
  if (!is_digit(pos)) return std::nullopt;
  if (token[pos] == '0') {
    ++pos;
  } else {
    while (is_digit(pos)) ++pos;
  }
  number.int_digits = token.substr(start, pos - start);
  if (pos < token.size() && token[pos] == '.') {
    start = ++pos;
    while (is_digit(pos)) ++pos;
    if (pos == start) return std::nullopt;
    number.frac_digits = token.substr(start, pos - start);
  }
  if (pos < token.size() && (token[pos] == 'e' || token[pos] == 'E')) {
    ++pos;
    bool negative_exponent = false;
    if (pos < token.size() && (token[pos] == '+' || token[pos] == '-')) {
      negative_exponent = token[pos] == '-';
      ++pos;
    }
    if (!is_digit(pos)) return std::nullopt;
    int64_t exponent = 0;
    while (is_digit(pos)) {
      exponent = std::min<int64_t>(exponent * 10 + (token[pos] - '0'), 1'000'000);
      ++pos;
    }
    number.exponent = negative_exponent ? -exponent : exponent;
  }
  if (pos != token.size()) return std::nullopt;
  return number;
}

ScaledInteger scale_decimal(const JsonDecimal& number, int scale, bool round,
                            int64_t max_magnitude) {
  // The digits D = int_digits then frac_digits, leading zeros skipped, with
  // value × 10^scale = D × 10^shift.
  const std::string_view parts[2] = {number.int_digits, number.frac_digits};
  size_t total = 0, first = 0;  // digit count of D, and where its first non-zero digit is
  bool seen_nonzero = false;
  for (std::string_view part : parts) {
    for (char c : part) {
      if (!seen_nonzero && c == '0') {
        ++first;
      } else {
        seen_nonzero = true;
      }
      ++total;
    }
  }
  auto digit = [&](size_t index) {  // index into D's digits, counted from the skipped zeros
    return index < parts[0].size() ? parts[0][index] : parts[1][index - parts[0].size()];
  };
  ScaledInteger out;
  if (!seen_nonzero) return out;  // zero, however written
  int64_t shift = number.exponent + scale - static_cast<int64_t>(number.frac_digits.size());
  // Digits of D below the units place are the remainder; the first of them decides rounding.
  size_t kept_end = total;
  bool remainder = false, round_up = false;
  if (shift < 0) {
    const auto dropped = static_cast<uint64_t>(-shift);
    const size_t significant = total - first;
    kept_end = dropped >= significant ? first : total - static_cast<size_t>(dropped);
    round_up = dropped <= significant && digit(kept_end) >= '5';
    for (size_t i = kept_end; i < total; ++i) remainder |= digit(i) != '0';
    shift = 0;
  }
  if (remainder && !round) {
    out.status = ScaledInteger::Status::kNotIntegral;
    return out;
  }
  // Beyond 18 digits the magnitude exceeds any bound a caller uses.
  if (static_cast<int64_t>(kept_end - first) + shift > 18) {
    out.status = ScaledInteger::Status::kTooLarge;
    return out;
  }
  int64_t value = 0;
  for (size_t i = first; i < kept_end; ++i) value = value * 10 + (digit(i) - '0');
  for (int64_t i = 0; i < shift; ++i) value *= 10;
  if (round && round_up) ++value;
  if (value > max_magnitude) out.status = ScaledInteger::Status::kTooLarge;
  out.value = value;
  return out;
}

Decoder::Decoder(DecoderOptions options) : options_(std::move(options)) {}

std::variant<Decoded, Rejection> Decoder::decode(std::string_view line) {
  if (line.size() > options_.max_line_bytes) {
    return Rejection{Reason::kLineTooLong,
                     fmt::format("{} bytes, at most {}", line.size(), options_.max_line_bytes)};
  }
  if (buffer_.size() < line.size() || buffer_.data() == nullptr) {
    buffer_ = simdjson::padded_string(line.size() * 2 + 64);
  }
  if (!line.empty()) std::memcpy(buffer_.data(), line.data(), line.size());
  auto not_json = [](simdjson::error_code error) -> std::variant<Decoded, Rejection> {
    if (error == simdjson::UTF8_ERROR) return Rejection{Reason::kInvalidUtf8, "invalid UTF-8"};
    return Rejection{Reason::kNotJson, std::string(simdjson::error_message(error))};
  };
  if (!brackets_match(line)) {
    // Invalid UTF-8 keeps its own reason, whatever the brackets.
    if (!simdjson::validate_utf8(line.data(), line.size())) {
      return Rejection{Reason::kInvalidUtf8, "invalid UTF-8"};
    }
    return Rejection{Reason::kNotJson, "unbalanced brackets or an unterminated string"};
  }
  od::document doc;
  // padded_string(n) holds n bytes plus simdjson::SIMDJSON_PADDING, all of which the parser may read.
  if (auto error = parser_.iterate(buffer_.data(), line.size(), buffer_.size() + simdjson::SIMDJSON_PADDING)
                       .get(doc)) {
    return not_json(error);
  }
  json_type root_type;
  if (auto error = doc.type().get(root_type)) return not_json(error);
  if (root_type != json_type::object) {
    // Still JSON? Then it is the wrong kind of value; else it is not JSON at all.
    simdjson::error_code error = simdjson::SUCCESS;
    bool scalar = false;
    if ((error = doc.is_scalar().get(scalar)) == simdjson::SUCCESS) {
      if (scalar) {
        std::string_view text;
        bool flag = false;
        switch (root_type) {
          case json_type::string:
            error = doc.get_string().get(text);
            break;
          case json_type::number:
            error = doc.raw_json_token().get(text);
            if (!error && !parse_json_number(trim_token(text))) error = simdjson::NUMBER_ERROR;
            break;
          case json_type::boolean:
            error = doc.get_bool().get(flag);
            break;
          default:
            error = doc.is_null().get(flag);
            if (!error && !flag) error = simdjson::INCORRECT_TYPE;
        }
      } else {
        od::value value;
        error = doc.get_value().get(value);
        if (!error) error = read_value(value, nullptr);
        if (!error && doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
          error = simdjson::TRAILING_CONTENT;
        }
      }
    }
    if (error) return not_json(error);
    return Rejection{Reason::kNotObject, fmt::format("got {}", json_type_name(root_type))};
  }

  raw_ = RawEvent{};
  items_.clear();
  std::string duplicate;  // the first key an object names twice ("items[0].quantity")
  od::object object;
  if (auto error = doc.get_object().get(object)) return not_json(error);
  KeySet keys(keys_);
  for (auto field : object) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return not_json(error);
    RawValue* slot = nullptr;
    int slot_number = -1;
    // The contract's fields, by name; anything else is checked as JSON and ignored.
    static constexpr std::pair<std::string_view, RawValue RawEvent::*> kSlots[] = {
        {"event_id", &RawEvent::event_id},
        {"event_type", &RawEvent::event_type},
        {"timestamp", &RawEvent::timestamp},
        {"restaurant_id", &RawEvent::restaurant_id},
        {"restaurant_name", &RawEvent::restaurant_name},
        {"location_id", &RawEvent::location_id},
        {"location_name", &RawEvent::location_name},
        {"table_id", &RawEvent::table_id},
        {"party_size", &RawEvent::party_size},
        {"server_id", &RawEvent::server_id},
        {"order_id", &RawEvent::order_id},
        {"items", &RawEvent::items},
        {"subtotal", &RawEvent::subtotal},
        {"kitchen_time_minutes", &RawEvent::kitchen_time_minutes},
        {"tax", &RawEvent::tax},
        {"tip", &RawEvent::tip},
        {"total_amount", &RawEvent::total_amount},
        {"payment_method", &RawEvent::payment_method},
    };
    for (const auto& [name, member] : kSlots) {
      ++slot_number;
      if (name == key) {
        slot = &(raw_.*member);
        break;
      }
    }
    if (slot == nullptr) slot_number = -1;
    if (!keys.add(key, slot_number) && duplicate.empty()) duplicate = std::string(key);
    od::value value;
    if (auto error = field.value().get(value)) return not_json(error);
    if (slot != &raw_.items) {
      if (auto error = read_value(value, slot)) return not_json(error);
      continue;
    }
    // items: each element's fields in slots too.
    json_type type;
    if (auto error = value.type().get(type)) return not_json(error);
    if (type != json_type::array) {
      if (auto error = read_value(value, slot)) return not_json(error);
      continue;
    }
    raw_.items.present = true;
    raw_.items.type = type;
    od::array array;
    if (auto error = value.get_array().get(array)) return not_json(error);
    for (auto element : array) {
      od::value entry;
      if (auto error = element.get(entry)) return not_json(error);
      RawItem& item = items_.emplace_back();
      if (auto error = entry.type().get(item.type)) return not_json(error);
      if (item.type != json_type::object) {
        if (auto error = read_value(entry, nullptr)) return not_json(error);
        continue;
      }
      od::object fields;
      if (auto error = entry.get_object().get(fields)) return not_json(error);
      KeySet item_keys(item_keys_);
      for (auto item_field : fields) {
        std::string_view item_key;
        if (auto error = item_field.unescaped_key().get(item_key)) return not_json(error);
        static constexpr std::pair<std::string_view, RawValue RawItem::*> kItemSlots[] = {
            {"item_id", &RawItem::item_id}, {"item_name", &RawItem::item_name},
            {"category", &RawItem::category}, {"price", &RawItem::price},
            {"quantity", &RawItem::quantity}};
        RawValue* item_slot = nullptr;
        int item_slot_number = -1;
        for (int i = 0; i < 5; ++i) {
          if (kItemSlots[i].first == item_key) {
            item_slot = &(item.*kItemSlots[i].second);
            item_slot_number = i;
            break;
          }
        }
        if (!item_keys.add(item_key, item_slot_number) && duplicate.empty()) {
          duplicate = fmt::format("items[{}].{}", items_.size() - 1, item_key);
        }
        if (auto error = read_value(item_field.value(), item_slot)) return not_json(error);
      }
    }
  }
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return Rejection{Reason::kNotJson, "trailing content after the object"};
  }
  if (!duplicate.empty()) {
    return Rejection{Reason::kDuplicateKey, fmt::format("{}: given twice", duplicate)};
  }

  Decoded decoded;
  Event& event = decoded.event;
  try {
    // Type first: an unknown type is reported as such, whatever else is wrong.
    const RawValue& type_value = required(raw_.event_type, "event_type", "");
    expect_type(type_value, json_type::string, "event_type", "");
    auto type = parse_event_type(type_value.text);
    if (!type) refuse(Reason::kUnknownEventType, fmt::format("event_type: '{}'", type_value.text));
    event.type = *type;

    const RawValue& id = required(raw_.event_id, "event_id", "");
    expect_type(id, json_type::string, "event_id", "");
    if (id.text.empty() || id.text.size() > kMaxEventIdBytes) {
      refuse(Reason::kInvalidEventId,
             fmt::format("event_id: length {} not in 1..{}", id.text.size(), kMaxEventIdBytes));
    }
    // A UUID is one id whatever its case; any other id is compared byte for byte.
    event.event_id = is_uuid(id.text) ? lower(id.text) : std::string(id.text);

    const RawValue& timestamp = required(raw_.timestamp, "timestamp", "");
    if (timestamp.type == json_type::number) {
      refuse(Reason::kInvalidTimestamp,
             fmt::format("timestamp: epoch number {}, expected an ISO 8601 date and time",
                         timestamp.text));
    }
    expect_type(timestamp, json_type::string, "timestamp", "");
    auto written = parse_iso8601(timestamp.text);
    if (!written) refuse(Reason::kInvalidTimestamp, fmt::format("timestamp: '{}'", timestamp.text));
    event.ts_ms = options_.default_zone.resolve(*written);
    decoded.naive_timestamp = !written->offset_minutes;
    if (event.ts_ms < 0 || event.ts_ms >= kMaxEventTsMs) {
      refuse(Reason::kOutOfRange,
             fmt::format("timestamp: '{}' not in 1970..2100", timestamp.text));
    }

    event.restaurant_id = aliased_string_field(raw_.restaurant_id, "restaurant_id",
                                               raw_.location_id, "location_id",
                                               kMaxRestaurantIdBytes);
    event.restaurant_name = aliased_string_field(raw_.restaurant_name, "restaurant_name",
                                                 raw_.location_name, "location_name",
                                                 kMaxStringBytes);
    event.table_id = string_field(raw_.table_id, "table_id", kMaxStringBytes);
    switch (event.type) {
      case EventType::kTableSeated:
        event.party_size = static_cast<uint16_t>(integer_field(raw_.party_size, "party_size", 1, 100));
        event.server_id = string_field(raw_.server_id, "server_id", kMaxStringBytes);
        break;
      case EventType::kOrderPlaced: {
        event.server_id = string_field(raw_.server_id, "server_id", kMaxStringBytes);
        event.order_id = string_field(raw_.order_id, "order_id", kMaxStringBytes);
        check_items(raw_.items, items_, event);
        event.subtotal_cents = money_field(raw_.subtotal, "subtotal");
        int64_t items_cents = 0;
        for (const auto& item : event.items) items_cents += item.quantity * item.price_cents;
        decoded.subtotal_mismatch = std::llabs(items_cents - event.subtotal_cents) > 1;
        break;
      }
      case EventType::kOrderCompleted:
        event.order_id = string_field(raw_.order_id, "order_id", kMaxStringBytes);
        event.kitchen_time_minutes = measure_field(raw_.kitchen_time_minutes, "kitchen_time_minutes");
        break;
      case EventType::kPayment: {
        event.order_id = string_field(raw_.order_id, "order_id", kMaxStringBytes);
        event.subtotal_cents = money_field(raw_.subtotal, "subtotal");
        event.tax_cents = money_field(raw_.tax, "tax");
        event.tip_cents = money_field(raw_.tip, "tip");
        event.total_cents = money_field(raw_.total_amount, "total_amount");
        // Any method the producer names, stored as sent (credit_card, gift_card, …).
        event.payment_method =
            string_field(raw_.payment_method, "payment_method", kMaxPaymentMethodBytes);
        decoded.total_mismatch = std::llabs(event.subtotal_cents + event.tax_cents +
                                            event.tip_cents - event.total_cents) > 1;
        break;
      }
    }
  } catch (const Refused& refused) {
    return Rejection{refused.reason, refused.detail};
  }
  decoded.content_hash = content_hash(event);
  return decoded;
}

}  // namespace tp::decode
