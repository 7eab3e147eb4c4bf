#include "ingest/counters.h"

#include <fmt/format.h>

#include <string_view>

namespace tp::ingest {

BatchCounters& BatchCounters::operator+=(const BatchCounters& other) {
#define TP_ADD(field, dq_name, prometheus_name, help) field += other.field;
  TP_BATCH_COUNTERS(TP_ADD)
#undef TP_ADD
  for (const auto& [code, count] : other.rejected_by_reason) rejected_by_reason[code] += count;
  return *this;
}

nlohmann::json BatchCounters::to_json() const {
  nlohmann::json out = nlohmann::json::object();
#define TP_PUT(field, dq_name, prometheus_name, help) out[#field] = field;
  TP_BATCH_COUNTERS(TP_PUT)
#undef TP_PUT
  nlohmann::json reasons = nlohmann::json::object();
  for (const auto& [code, count] : rejected_by_reason) reasons[code] = count;
  out["rejected_by_reason"] = std::move(reasons);
  return out;
}

std::string data_quality_select_list() {
  std::string out;
  auto add = [&out](std::string_view expression) {
    if (!out.empty()) out += ",\n       ";
    out += expression;
  };
#define TP_SUM(field, dq_name, prometheus_name, help)                              \
  if (std::string_view(dq_name).size() > 0) add(fmt::format("sum({}) AS {}", #field, dq_name)); \
  if (std::string_view(#field) == "rejected") {                                    \
    add("sumMap(rejected_by_reason) AS rejected_by_reason");                       \
  }
  TP_BATCH_COUNTERS(TP_SUM)
#undef TP_SUM
  return out;
}

}  // namespace tp::ingest
