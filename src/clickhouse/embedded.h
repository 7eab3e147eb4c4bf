#pragma once
// The embedded backend: the ClickHouse engine of the chdb-core wheel, loaded in-process with
// dlopen and driven through its ADBC entry point (chdb_adbc_init), with no Python code.
#include <memory>
#include <string>

#include "clickhouse/client.h"

namespace tp::clickhouse {

// Where the engine lives and where it stores data.
struct EmbeddedOptions {
  std::string data_dir = "./tablepulse-data";  // one data directory per process (chDB's limit)
  std::string library_path;  // empty: $TABLEPULSE_CHDB_LIB, then the path scripts/deps.sh used
};

// Loads the engine on first use (once per process) and opens the data directory.
// Fails with kEngineLocked when another process owns the directory, kEngineLoad when the
// library cannot be loaded, kInvalidArgument when a second, different directory is asked for.
Result<std::unique_ptr<ClientFactory>> open_embedded(const EmbeddedOptions& options);

// The chDB library path that open_embedded would load for these options.
std::string resolve_chdb_library(const EmbeddedOptions& options);

}  // namespace tp::clickhouse
