#include "ingest/checkpoints.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/time.h"
#include "source/kafka.h"
#include "source/line_reader.h"

namespace tp::ingest {

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string from_hex(std::string_view hex) {
  auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(digit(hex[i]) << 4 | digit(hex[i + 1])));
  }
  return out;
}

Result<std::optional<FileCheckpoint>> read_file_checkpoint(clickhouse::Client& client,
                                                           const std::string& path) {
  auto rows = client.query_json_rows(
      "SELECT source_id, end_offset, end_line, end_tail, "
      "if(source_id = {source:String}, 1, "
      "toUInt32OrZero(substring(source_id, length({source:String}) + 2))) AS generation "
      "FROM ingest_batches FINAL "
      "WHERE source_id = {source:String} OR startsWith(source_id, concat({source:String}, '#')) "
      "ORDER BY generation DESC, end_offset DESC LIMIT 1",
      {{"source", source::file_source_id(path)}});
  if (!rows.ok()) return rows.error();
  if (rows->empty()) return std::optional<FileCheckpoint>();
  auto json = nlohmann::json::parse(rows->front());
  FileCheckpoint checkpoint;
  checkpoint.generation = std::max<uint32_t>(1, json["generation"].get<uint32_t>());
  checkpoint.end_offset = json["end_offset"].get<uint64_t>();
  checkpoint.end_line = json["end_line"].get<uint64_t>();
  checkpoint.end_tail = from_hex(json["end_tail"].get<std::string>());
  return std::optional<FileCheckpoint>(std::move(checkpoint));
}

Result<std::map<int32_t, uint64_t>> read_partition_checkpoints(clickhouse::Client& client,
                                                               const std::string& topic) {
  const std::string prefix = source::kafka_source_prefix(topic);
  auto rows = client.query_json_rows(
      "SELECT toInt32OrZero(substring(source_id, length({prefix:String}) + 1)) AS partition, "
      "max(end_offset) AS end_offset FROM ingest_batches FINAL "
      "WHERE startsWith(source_id, {prefix:String}) GROUP BY source_id",
      {{"prefix", prefix}});
  if (!rows.ok()) return rows.error();
  std::map<int32_t, uint64_t> out;
  for (const std::string& text : rows.value()) {
    auto json = nlohmann::json::parse(text);
    out[json["partition"].get<int32_t>()] = json["end_offset"].get<uint64_t>();
  }
  return out;
}

std::string checkpoint_row(const InsertedBatch& inserted, std::string_view run_id) {
  const Batch& batch = inserted.batch;
  const SourcePosition& position = batch.position;
  // The registry's counters under their column names, then where the batch is.
  nlohmann::json row = inserted.counters.to_json();
  row.update({
      {"source_id", position.source_id},
      {"run_id", run_id},
      {"start_offset", batch.start_offset},
      {"end_offset", position.end_offset},
      {"end_line", position.end_line},
      {"file_identity", position.file_identity},
      {"end_tail", to_hex(position.end_tail)},
      {"min_event_ts", format_clickhouse_ms(inserted.min_ts == INT64_MAX ? 0 : inserted.min_ts)},
      {"max_event_ts", format_clickhouse_ms(inserted.max_ts)},
  });
  return row.dump() + "\n";
}

}  // namespace tp::ingest
