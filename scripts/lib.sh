# Helpers shared by the scripts that run a private server for tests (clickhouse-test-server.sh,
# kafka-test-broker.sh): a free port, a process started in a process group of its own (with a
# watcher that stops it when the test that wanted it dies), waiting until it answers, its log
# on failure, and stopping the group. Sourced, not run; the caller sets `set -euo pipefail`.

# free_port [TAKEN...]: a free TCP port on the loopback interface, found by binding port 0,
# and none of TAKEN (ports chosen for the same server but not bound yet).
free_port() {
  local port
  while true; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    [[ " $* " == *" $port "* ]] || break
  done
  echo "$port"
}

# True while the process runs (a zombie waiting for its parent to reap it counts as gone).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
  [[ -n $state && $state != Z ]]
}

# start_group PID_FILE WATCH_FILE GRACE_S LOG COMMAND...: runs COMMAND in the background as the
# leader of a new process group, stdin from /dev/null, stdout and stderr appended to LOG, and
# writes its pid (also the group id) to PID_FILE and to $STARTED_PID. If $TP_WATCH_PID is set, a
# watcher (its pid in WATCH_FILE) stops the group when that process exits: TERM, then KILL
# GRACE_S s later, so a crashed test leaves no server running.
start_group() {
  local pid_file=$1 watch_file=$2 grace=$3 log=$4
  shift 4
  # A background job of a non-interactive shell is no group leader, so setsid execs in place
  # and $! is the command's pid, which is also the group id.
  setsid "$@" </dev/null >>"$log" 2>&1 &
  STARTED_PID=$!
  echo "$STARTED_PID" >"$pid_file"
  if [[ -n ${TP_WATCH_PID:-} ]]; then
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
                    kill -TERM -- "-$2" 2>/dev/null; sleep "$3"; kill -KILL -- "-$2" 2>/dev/null' \
      _ "$TP_WATCH_PID" "$STARTED_PID" "$grace" </dev/null >/dev/null 2>&1 &
    echo $! >"$watch_file"
  fi
}

# wait_ready TIMEOUT_S PID PROBE ARGS...: runs PROBE ARGS every 0.1 s until it succeeds
# (returns 0), the process PID exits (1) or TIMEOUT_S s have passed (2).
wait_ready() {
  local deadline=$((SECONDS + $1)) pid=$2
  shift 2
  while ((SECONDS < deadline)); do
    "$@" && return 0
    alive "$pid" || return 1
    sleep 0.1
  done
  return 2
}

# log_tail LINES FILE...: the last LINES lines of each FILE that exists, to stderr (what a
# failed start shows).
log_tail() {
  local lines=$1
  shift
  local file
  for file in "$@"; do
    [[ -f $file ]] && tail -n "$lines" "$file" >&2
  done
  return 0
}

# stop_group PID_FILE WATCH_FILE GRACE_S: stops the watcher, then the process group of the pid
# in PID_FILE (TERM; KILL if it still runs GRACE_S s later) and waits until it is gone; removes
# both files. Nothing to do (no PID_FILE) is success, so a stop may be repeated.
stop_group() {
  local pid_file=$1 watch_file=$2 grace=$3 pid
  if [[ -f $watch_file ]]; then
    kill -KILL -- "-$(cat "$watch_file")" 2>/dev/null || true
    rm -f "$watch_file"
  fi
  [[ -f $pid_file ]] || return 0
  pid=$(cat "$pid_file")
  kill -TERM -- "-$pid" 2>/dev/null || true
  local _
  for _ in $(seq 1 $((grace * 10))); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    kill -KILL -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      alive "$pid" || break
      sleep 0.05
    done
  fi
  rm -f "$pid_file"
}
