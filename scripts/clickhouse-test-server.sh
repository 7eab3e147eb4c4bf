#!/usr/bin/env bash
# Starts or stops a private ClickHouse server for the HTTP backend tests: its own config, data
# and logs under DIR, listening on 127.0.0.1 only, run as the current user, in a process group
# of its own so stop leaves nothing behind.
#
#   scripts/clickhouse-test-server.sh start DIR HTTP_PORT [TCP_PORT]
#   scripts/clickhouse-test-server.sh stop DIR
#
# The `default` user's password is $CLICKHOUSE_TEST_PASSWORD (default tp-secret). If
# $TP_WATCH_PID is set, a watcher stops the server when that process exits (a crashed test
# leaves no server running). start prints nothing on success and waits until GET /ping answers.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR HTTP_PORT [TCP_PORT] | stop DIR" >&2
  exit 2
}

# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

SERVER_BIN=${CLICKHOUSE_SERVER_BIN:-}
if [[ -z $SERVER_BIN ]]; then
  # Debian installs it in /usr/sbin, which a non-root PATH may lack.
  SERVER_BIN=$(command -v clickhouse-server || true)
  [[ -n $SERVER_BIN ]] || SERVER_BIN=/usr/sbin/clickhouse-server
fi

# True when GET /ping on the port answers "Ok." (bash's /dev/tcp: no curl binary needed).
ping_ok() {
  local answer
  answer=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" &&
    printf 'GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
    timeout 2 cat <&3) 2>/dev/null || true)
  [[ $answer == *"Ok."* ]]
}

write_config() {
  local dir=$1 http_port=$2 tcp_port=$3 password=$4
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
  cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>$dir/log/server.log</log>
    <errorlog>$dir/log/server.err.log</errorlog>
    <size>20M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <keep_alive_timeout>10</keep_alive_timeout>
</yandex>
EOF
  cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>2000000000</max_memory_usage>
    </default>
  </profiles>
  <users>
    <default>
      <password>$password</password>
      <networks>
        <ip>127.0.0.1</ip>
        <ip>::1</ip>
      </networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
EOF
  chmod 600 "$dir/users.xml"
}

start() {
  local dir=$1 http_port=$2 tcp_port=${3:-}
  [[ -n $tcp_port ]] || tcp_port=$(free_port "$http_port")
  [[ -x $SERVER_BIN ]] || {
    echo "clickhouse-server not found (apt install clickhouse-server; scripts/deps.sh does)" >&2
    exit 1
  }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -f $dir/server.pid ]] && alive "$(cat "$dir/server.pid")"; then
    echo "a server already runs for $dir (pid $(cat "$dir/server.pid"))" >&2
    exit 1
  fi
  write_config "$dir" "$http_port" "$tcp_port" "${CLICKHOUSE_TEST_PASSWORD:-tp-secret}"
  # In a process group of its own: stop kills the whole group.
  start_group "$dir/server.pid" "$dir/watch.pid" 5 "$dir/log/stdout.log" \
    "$SERVER_BIN" --config-file="$dir/config.xml"
  local status=0
  wait_ready 30 "$STARTED_PID" ping_ok "$http_port" || status=$?
  case $status in
    0) return 0 ;;
    1)
      echo "clickhouse-server exited during start-up; its log:" >&2
      log_tail 20 "$dir/log/server.err.log" "$dir/log/stdout.log"
      ;;
    *) echo "clickhouse-server did not answer /ping on port $http_port within 30 s" >&2 ;;
  esac
  stop "$dir"
  exit 1
}

# Stops the server's process group and its watcher; idempotent. 18.16 waits for idle
# keep-alive connections on TERM: it gets 3 s, then KILL (the tests want a server that is gone,
# not a graceful shutdown).
stop() {
  stop_group "$1/server.pid" "$1/watch.pid" 3
}

case ${1:-} in
  start)
    (($# >= 3)) || usage
    start "$2" "$3" "${4:-}"
    ;;
  stop)
    (($# >= 2)) || usage
    stop "$2"
    ;;
  *) usage ;;
esac
