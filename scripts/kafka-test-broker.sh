#!/usr/bin/env bash
# Fetches, starts or stops a private single-node Apache Kafka broker (KRaft: broker and
# controller in one JVM) for the Kafka consumer tests: its config, data and logs under DIR,
# listening on 127.0.0.1 only, run as the current user, in a process group of its own so stop
# leaves nothing behind.
#
#   scripts/kafka-test-broker.sh fetch
#   scripts/kafka-test-broker.sh start DIR [PORT]
#   scripts/kafka-test-broker.sh stop DIR
#   scripts/kafka-test-broker.sh topic DIR create NAME PARTITIONS
#   scripts/kafka-test-broker.sh topic DIR add-partitions NAME N
#   scripts/kafka-test-broker.sh tool DIR CLASS ARGS...   (any Kafka tool class, e.g.
#       org.apache.kafka.tools.ConsoleProducer; --bootstrap-server is not added)
#
# fetch resolves org.apache.kafka:kafka_2.13:$KAFKA_TEST_VERSION (default below) and the tool
# classes with Maven into .deps/kafka/VERSION/lib (once; start does it when missing). start
# formats DIR/data on first use (a later start on the same DIR keeps topics, offsets and the
# ports), writes the bootstrap address to DIR/bootstrap and that of a second listener, which
# takes SASL/PLAIN (SASL_PLAINTEXT) for user $KAFKA_TEST_SASL_USER with password
# $KAFKA_TEST_SASL_PASSWORD, to DIR/sasl_bootstrap, and that of a third, which takes TLS (SSL)
# with a certificate for 127.0.0.1 signed by DIR/tls/ca.pem, to DIR/ssl_bootstrap
# (DIR/tls/other-ca.pem signed nothing: a client that trusts only it must refuse the broker),
# and that of a fourth, the same but requiring a client certificate signed by that CA (mutual
# TLS; DIR/tls/client.key and client.crt are one, other-client.* one signed by other-ca), to
# DIR/mtls_bootstrap.
# It prints nothing on success and returns
# once the broker answers a Kafka ApiVersions request; its logs are in DIR/logs. If
# $TP_WATCH_PID is set, a watcher stops the broker when that process exits (a crashed test
# leaves no broker running). add-partitions adds N partitions to the topic's current count.
set -euo pipefail

usage() {
  echo "usage: $0 fetch | start DIR [PORT] | stop DIR |" \
    "topic DIR create NAME PARTITIONS | topic DIR add-partitions NAME N | tool DIR CLASS ARGS..." >&2
  exit 2
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
KAFKA_VERSION=${KAFKA_TEST_VERSION:-4.4.0}
# log4j-core comes with Kafka; the SLF4J 1.7 binding for it (Kafka logs through slf4j-api 1.7)
# does not, so fetch adds the one of the same log4j version.
LOG4J_VERSION=2.25.5
KAFKA_HOME=${KAFKA_TEST_HOME:-$ROOT/.deps/kafka/$KAFKA_VERSION}
JAVA=${JAVA:-java}
# The machine is shared: a bounded heap, a serial collector and few threads.
BROKER_JVM_OPTS=${KAFKA_TEST_JVM_OPTS:-"-Xms128m -Xmx512m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError"}
# Tools are short-lived: C1 only starts them faster.
TOOL_JVM_OPTS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
START_TIMEOUT_S=${KAFKA_TEST_START_TIMEOUT:-60}
STOP_TIMEOUT_S=20
# The SASL listener's one user (a test broker on loopback: fixed, known credentials).
KAFKA_TEST_SASL_USER=tablepulse
KAFKA_TEST_SASL_PASSWORD=tp-test-secret

log_fetch() { [[ -n ${KAFKA_TEST_VERBOSE:-} ]] && echo "kafka-test-broker: $*" >&2 || true; }

fetched() { [[ -f $KAFKA_HOME/.complete ]]; }

# Resolves the broker, the tools and the log binding with their runtime dependencies into
# $KAFKA_HOME/lib; the marker .complete is written last, so an interrupted fetch is redone.
fetch() {
  fetched && return 0
  command -v mvn >/dev/null || { echo "mvn not found (apt install maven)" >&2; exit 1; }
  mkdir -p "$KAFKA_HOME"
  local work="$KAFKA_HOME/fetch.tmp"
  rm -rf "$work" "$KAFKA_HOME/lib"
  mkdir -p "$work"
  # connect-runtime (Jetty, Jersey: half the size) is only for Kafka Connect's tools.
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.tablepulse</groupId>
  <artifactId>kafka-test-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  log_fetch "fetching Kafka $KAFKA_VERSION into $KAFKA_HOME/lib"
  if ! mvn -B -q -f "$work/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:2.8:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$work/lib" >"$work/mvn.log" 2>&1; then
    echo "fetching Kafka $KAFKA_VERSION with Maven failed; the end of $work/mvn.log:" >&2
    tail -n 20 "$work/mvn.log" >&2
    exit 1
  fi
  mv "$work/lib" "$KAFKA_HOME/lib"
  mv "$work/pom.xml" "$KAFKA_HOME/pom.xml"
  rm -rf "$work"
  touch "$KAFKA_HOME/.complete"
}

# True when the broker on the port answers an ApiVersions (v0) request with error code 0. The
# broker enables its listener only once it is registered and unfenced, so this means ready.
broker_answers() {
  python3 - "$1" <<'EOF' 2>/dev/null
import socket, struct, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.settimeout(2)
    client = b"tp-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    s.sendall(struct.pack(">i", len(body)) + body)
    data = b""
    while len(data) < 10:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    correlation, error = struct.unpack(">ih", data[4:10])
    sys.exit(0 if correlation == 7 and error == 0 else 1)
except Exception:
    sys.exit(1)
EOF
}

classpath() { echo "$KAFKA_HOME/lib/*"; }

# The TLS listeners' certificates, once per DIR: a CA, the broker's key and certificate for
# IP 127.0.0.1 signed by it (a PEM keystore: PKCS#8 key, then the chain), a client's key and
# certificate signed by it (for the mutual-TLS listener, whose truststore is the CA), a second
# CA and a client certificate signed by that one.
write_tls() {
  local tls=$1/tls
  [[ -f $tls/broker.pem && -f $tls/other-ca.pem && -f $tls/other-client.crt ]] && return 0
  mkdir -p "$tls"
  (
    cd "$tls"
    for ca in ca other-ca; do
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tablepulse test $ca" \
        -keyout "$ca.key" -out "$ca.pem"
    done
    # sign NAME CA EXTENSION: NAME.key and NAME.crt, signed by CA.
    sign() {
      openssl req -newkey rsa:2048 -nodes -subj "/CN=tablepulse test $1" -keyout "$1.key" \
        -out "$1.csr"
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 3650 \
        -extfile "$1.ext" -out "$1.crt"
    }
    sign broker ca subjectAltName=IP:127.0.0.1
    sign client ca extendedKeyUsage=clientAuth
    sign other-client other-ca extendedKeyUsage=clientAuth
    cat broker.key broker.crt ca.pem >broker.pem
  ) >"$1/logs/tls.log" 2>&1 && return 0
  echo "making the test certificates failed; $1/logs/tls.log:" >&2
  tail -n 5 "$1/logs/tls.log" >&2
  exit 1
}

write_config() {
  local dir=$1 port=$2 controller_port=$3 sasl_port=$4 ssl_port=$5 mtls_port=$6
  # Where it listens is also what it advertises: every endpoint is on loopback.
  local endpoints="PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl_port"
  endpoints+=",SSL://127.0.0.1:$ssl_port,MTLS://127.0.0.1:$mtls_port"
  endpoints+=",CONTROLLER://127.0.0.1:$controller_port"
  mkdir -p "$dir/data" "$dir/logs"
  write_tls "$dir"
  cat >"$dir/server.properties" <<EOF
# Written by scripts/kafka-test-broker.sh: a single KRaft node for tests.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=$endpoints
advertised.listeners=$endpoints
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,MTLS:SSL,CONTROLLER:PLAINTEXT
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$dir/tls/broker.pem
listener.name.mtls.ssl.keystore.type=PEM
listener.name.mtls.ssl.keystore.location=$dir/tls/broker.pem
listener.name.mtls.ssl.truststore.type=PEM
listener.name.mtls.ssl.truststore.location=$dir/tls/ca.pem
listener.name.mtls.ssl.client.auth=required
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_TEST_SASL_USER="$KAFKA_TEST_SASL_PASSWORD";
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=-1
EOF
  cat >"$dir/log4j2.properties" <<EOF
# Broker log: DIR/logs/server.log, one 20 MB file kept besides the current one.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $dir/logs/server.log
appender.file.filePattern = $dir/logs/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 1
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
  cat >"$dir/tools-log4j2.properties" <<EOF
# Tools: warnings and errors to stderr only.
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
EOF
}

start() {
  local dir=$1 port=${2:-} controller_port="" sasl_port="" ssl_port="" mtls_port="" cluster_id=""
  fetch
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -f $dir/broker.pid ]] && alive "$(cat "$dir/broker.pid")"; then
    echo "a broker already runs for $dir (pid $(cat "$dir/broker.pid"))" >&2
    exit 1
  fi
  # A formatted DIR keeps its cluster id and controller port: the single-node voter set stored
  # in the metadata log names that endpoint. The client port may change.
  if [[ -f $dir/data/meta.properties && -f $dir/broker.env ]]; then
    # shellcheck disable=SC1091
    source "$dir/broker.env"
    port=${2:-$KAFKA_PORT}
    controller_port=$KAFKA_CONTROLLER_PORT
    sasl_port=${KAFKA_SASL_PORT:-}
    ssl_port=${KAFKA_SSL_PORT:-}
    mtls_port=${KAFKA_MTLS_PORT:-}
    cluster_id=$KAFKA_CLUSTER_ID
  else
    rm -rf "$dir/data"
    [[ -n $port ]] || port=$(free_port)
    controller_port=$(free_port "$port")
    cluster_id=$("$JAVA" $TOOL_JVM_OPTS -cp "$(classpath)" kafka.tools.StorageTool random-uuid)
  fi
  # Also for a DIR formatted before the SASL or a TLS listener existed.
  [[ -n $sasl_port ]] || sasl_port=$(free_port "$port" "$controller_port")
  [[ -n $ssl_port ]] || ssl_port=$(free_port "$port" "$controller_port" "$sasl_port")
  [[ -n $mtls_port ]] || mtls_port=$(free_port "$port" "$controller_port" "$sasl_port" "$ssl_port")
  write_config "$dir" "$port" "$controller_port" "$sasl_port" "$ssl_port" "$mtls_port"
  printf 'KAFKA_PORT=%s\nKAFKA_CONTROLLER_PORT=%s\nKAFKA_SASL_PORT=%s\nKAFKA_SSL_PORT=%s\nKAFKA_MTLS_PORT=%s\nKAFKA_CLUSTER_ID=%s\n' \
    "$port" "$controller_port" "$sasl_port" "$ssl_port" "$mtls_port" "$cluster_id" >"$dir/broker.env"
  if [[ ! -f $dir/data/meta.properties ]]; then
    if ! "$JAVA" $TOOL_JVM_OPTS -Dlog4j2.configurationFile="$dir/tools-log4j2.properties" \
      -cp "$(classpath)" kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$dir/server.properties" >"$dir/logs/format.log" 2>&1; then
      echo "formatting the Kafka storage in $dir/data failed; $dir/logs/format.log:" >&2
      tail -n 20 "$dir/logs/format.log" >&2
      exit 1
    fi
  fi
  rm -f "$dir/bootstrap" "$dir/sasl_bootstrap" "$dir/ssl_bootstrap" "$dir/mtls_bootstrap"
  # In a process group of its own: stop kills the whole group.
  # shellcheck disable=SC2086
  start_group "$dir/broker.pid" "$dir/watch.pid" 10 "$dir/logs/stdout.log" \
    "$JAVA" $BROKER_JVM_OPTS -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dlog4j2.shutdownHookEnabled=false \
    -Dkafka.logs.dir="$dir/logs" \
    -cp "$(classpath)" kafka.Kafka "$dir/server.properties"
  local status=0
  wait_ready "$START_TIMEOUT_S" "$STARTED_PID" broker_answers "$port" || status=$?
  case $status in
    0)
      echo "127.0.0.1:$sasl_port" >"$dir/sasl_bootstrap"
      echo "127.0.0.1:$ssl_port" >"$dir/ssl_bootstrap"
      echo "127.0.0.1:$mtls_port" >"$dir/mtls_bootstrap"
      echo "127.0.0.1:$port" >"$dir/bootstrap"
      return 0
      ;;
    1)
      echo "the Kafka broker exited during start-up; see $dir/logs (server.log, stdout.log):" >&2
      # The shutdown that follows a failure fills the end of the log: show the errors.
      grep -hE '^\[[^]]*\] (ERROR|FATAL) |^Caused by: ' "$dir/logs/server.log" 2>/dev/null | tail -n 6 >&2 || true
      log_tail 5 "$dir/logs/stdout.log"
      ;;
    *)
      echo "the Kafka broker did not answer on 127.0.0.1:$port within $START_TIMEOUT_S s;" \
        "see $dir/logs/server.log" >&2
      ;;
  esac
  stop "$dir"
  exit 1
}

# Stops the broker's process group (TERM, which shuts it down cleanly, then KILL after
# $STOP_TIMEOUT_S s) and its watcher; idempotent. Data, config and logs stay for inspection
# and for a later start.
stop() {
  stop_group "$1/broker.pid" "$1/watch.pid" "$STOP_TIMEOUT_S"
}

# Runs a Kafka tool class from the fetched jars with the tools' quiet logging.
tool() {
  local dir=$1 class=$2
  shift 2
  fetched || { echo "Kafka is not fetched: $0 fetch" >&2; exit 1; }
  [[ -f $dir/tools-log4j2.properties ]] || { echo "no broker was started in $dir" >&2; exit 1; }
  # shellcheck disable=SC2086
  "$JAVA" $TOOL_JVM_OPTS -Dlog4j2.configurationFile="$dir/tools-log4j2.properties" \
    -cp "$(classpath)" "$class" "$@"
}

topic() {
  local dir=$1 action=$2 name=$3 count=$4 bootstrap current
  bootstrap=$(cat "$dir/bootstrap")
  case $action in
    create)
      tool "$dir" org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
        --create --topic "$name" --partitions "$count" --replication-factor 1 >/dev/null
      ;;
    add-partitions)
      current=$(tool "$dir" org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
        --describe --topic "$name" | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n 1)
      [[ -n $current ]] || { echo "topic $name not found" >&2; exit 1; }
      tool "$dir" org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
        --alter --topic "$name" --partitions "$((current + count))" >/dev/null
      ;;
    *) usage ;;
  esac
}

case ${1:-} in
  fetch)
    fetch
    ;;
  start)
    (($# >= 2)) || usage
    start "$2" "${3:-}"
    ;;
  stop)
    (($# >= 2)) || usage
    stop "$2"
    ;;
  topic)
    (($# == 5)) || usage
    topic "$2" "$3" "$4" "$5"
    ;;
  tool)
    (($# >= 3)) || usage
    dir=$2 class=$3
    shift 3
    tool "$dir" "$class" "$@"
    ;;
  *) usage ;;
esac
