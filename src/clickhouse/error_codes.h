#pragma once
// ClickHouse's server error codes that TablePulse acts on or tests for, by name. The numbers are
// ClickHouse's own (src/Common/ErrorCodes.cpp), stable across versions; they arrive in
// Error::clickhouse_code. Every other file names them from here.
namespace tp::clickhouse::error_codes {

inline constexpr int CHECKSUM_DOESNT_MATCH = 40;  // stored data that does not read back …
inline constexpr int UNKNOWN_TABLE = 60;
inline constexpr int SYNTAX_ERROR = 62;
inline constexpr int UNKNOWN_DATABASE = 81;
inline constexpr int UNKNOWN_SETTING = 115;  // what a server older than a setting answers
inline constexpr int TIMEOUT_EXCEEDED = 159;
inline constexpr int UNKNOWN_USER = 192;
inline constexpr int WRONG_PASSWORD = 193;
inline constexpr int TOO_MANY_SIMULTANEOUS_QUERIES = 202;
inline constexpr int NO_FREE_CONNECTION = 203;
inline constexpr int SOCKET_TIMEOUT = 209;
inline constexpr int NETWORK_ERROR = 210;
inline constexpr int NO_ZOOKEEPER = 225;
inline constexpr int MEMORY_LIMIT_EXCEEDED = 241;
inline constexpr int TABLE_IS_READ_ONLY = 242;  // a replica that lost its Keeper session
inline constexpr int CORRUPTED_DATA = 246;  // … (statement_error: data_corrupted) …
inline constexpr int TOO_MANY_PARTS = 252;
inline constexpr int CANNOT_DECOMPRESS = 271;  // … on either backend
inline constexpr int ALL_CONNECTION_TRIES_FAILED = 279;
inline constexpr int TOO_FEW_LIVE_REPLICAS = 285;
inline constexpr int UNKNOWN_STATUS_OF_INSERT = 319;
inline constexpr int FUNCTION_THROW_IF_VALUE_IS_NON_ZERO = 395;
inline constexpr int AUTHENTICATION_FAILED = 516;
inline constexpr int KEEPER_EXCEPTION = 999;

}  // namespace tp::clickhouse::error_codes
