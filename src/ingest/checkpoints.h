#pragma once
// Checkpoints: a row of ingest_batches per committed batch, written after its inserts and its
// match step. A file's reading resumes after the last one of its newest generation.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "clickhouse/client.h"
#include "common/result.h"
#include "ingest/batch.h"

namespace tp::ingest {

// What the last checkpoint of a path's newest generation recorded.
struct FileCheckpoint {
  uint32_t generation = 1;  // which content of the path it belongs to (1: the first)
  uint64_t end_offset = 0;  // first byte not committed
  uint64_t end_line = 0;    // last line committed
  std::string end_tail;     // the bytes before end_offset as read then (empty: not recorded)
};

// The last checkpoint of `path`'s newest generation (each content the path held in turn, after
// rotations or truncations, is one); nullopt if none of its lines was ever committed.
Result<std::optional<FileCheckpoint>> read_file_checkpoint(clickhouse::Client& client,
                                                           const std::string& path);

// The checkpointed end (first offset not committed) of each partition of Kafka topic `topic`
// that has a checkpoint (source ids "kafka:<topic>/<partition>").
Result<std::map<int32_t, uint64_t>> read_partition_checkpoints(clickhouse::Client& client,
                                                               const std::string& topic);

// The checkpoint row of an inserted batch (JSONEachRow, with its newline), for run `run_id`.
std::string checkpoint_row(const InsertedBatch& inserted, std::string_view run_id);

// Lower-case hex of `bytes`, and back (the tail bytes are stored as hex text).
std::string to_hex(std::string_view bytes);
std::string from_hex(std::string_view hex);

}  // namespace tp::ingest
