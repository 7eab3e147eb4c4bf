"""bench/freshness: event-to-page latency of `tablepulse serve`. A writer appends events to the
file serve follows at a fixed rate; a reader consumes the page's server-sent events
(/api/v1/stream) and notes when each line's effect becomes visible, twice: when its event is
stored (the snapshot's stored_lines reach it: the revenue, funnel and top-item panels include
it) and when its batch is checkpointed (the committed counters reach it: wait times and
turnover too). Prints p50/p99 of both per rate, and the CPU serve used meanwhile (cores: its
CPU-seconds per second from the first line written until the last is checkpointed). Not a
test: prints figures.
With --kafka the writer sends the lines to a topic of a private broker
(scripts/kafka-test-broker.sh) through Kafka's console producer instead, and serve reads it with
--kafka: produce-to-page latency.
Usage: python3 bench/freshness.py [--kafka] [RATE ...]   (default: 1000 5000; 20 s each)
FRESHNESS_SERVE_ARGS="--batch-ms 1000" adds options to serve's command line (--match-ms 250:
wait times and turnover fresher, at what CPU cost);
FRESHNESS_SERVE_LOG=PREFIX keeps serve's debug log (-v: each batch's and each snapshot's timings)
of each rate in PREFIX-RATE.log."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "tablepulse")
DURATION = float(os.environ.get("FRESHNESS_SECONDS", "20"))
SERVE_ARGS = os.environ.get("FRESHNESS_SERVE_ARGS", "").split()
SERVE_LOG = os.environ.get("FRESHNESS_SERVE_LOG")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SCRIPT = os.path.join(ROOT, "scripts", "kafka-test-broker.sh")


class Broker:
    """A private broker for --kafka, stopped at exit."""

    def __init__(self, work):
        self.dir = os.path.join(work, "broker")
        env = dict(os.environ, TP_WATCH_PID=str(os.getpid()))
        subprocess.run(["bash", SCRIPT, "start", self.dir], check=True, env=env)
        self.bootstrap = open(os.path.join(self.dir, "bootstrap")).read().strip()

    def topic(self, name):
        subprocess.run(["bash", SCRIPT, "topic", self.dir, "create", name, "6"], check=True,
                       stdout=subprocess.DEVNULL)
        return name

    def producer(self, topic):
        """The console producer: lines on its stdin become messages (linger 5 ms)."""
        return subprocess.Popen(["bash", SCRIPT, "tool", self.dir,
                                 "org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server",
                                 self.bootstrap, "--topic", topic,
                                 "--producer-property", "linger.ms=5"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)

    def stop(self):
        subprocess.run(["bash", SCRIPT, "stop", self.dir], check=False)


def cpu_seconds(pid):
    """User and system CPU time of a process so far (its threads included)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(rate, work, broker=None):
    events = os.path.join(work, f"pool-{rate}.jsonl")
    count = int(rate * DURATION)
    subprocess.run([BIN, "generate", "--restaurants", "50", "--events", str(count),
                    "--duplicate-rate", "0", "--malformed-rate", "0", "--late-rate", "0",
                    "-o", events], check=True, stderr=subprocess.DEVNULL)
    lines = open(events, "rb").read().splitlines(keepends=True)[:count]
    source = os.path.join(work, f"stream-{rate}.jsonl")
    open(source, "wb").close()
    port = free_port()
    db = os.path.join(work, f"db-{rate}")
    reading = ["--source", source, "--follow"]
    producer = None
    if broker:
        topic = broker.topic(f"fresh-{rate}")
        reading = ["--kafka", broker.bootstrap, "--topic", topic]
        producer = broker.producer(topic)
    serve = subprocess.Popen([BIN] + (["-v"] if SERVE_LOG else []) + ["serve", "--db", db, "--listen", f"127.0.0.1:{port}"] +
                             reading + SERVE_ARGS, stdout=subprocess.DEVNULL,
                             stderr=open(f"{SERVE_LOG}-{rate}.log", "wb") if SERVE_LOG
                             else subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    written_at = [0.0] * len(lines)
    visible_at = [0.0] * len(lines)  # checkpointed
    stored_at = [0.0] * len(lines)
    done = threading.Event()

    def reader():
        stream = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/stream", timeout=60)
        seen = stored_seen = 0
        for raw in stream:
            if done.is_set():
                return
            line = raw.decode()
            if not line.startswith("data:"):
                continue
            now = time.time()
            ingest = json.loads(line[5:]).get("ingest", {})
            committed = ingest.get("inserted", 0) + ingest.get("duplicates", 0) + ingest.get("rejected", 0)
            stored = max(committed, ingest.get("stored_lines", 0))
            for i in range(stored_seen, min(stored, len(lines))):
                stored_at[i] = now
            stored_seen = max(stored_seen, stored)
            for i in range(seen, min(committed, len(lines))):
                visible_at[i] = now
            seen = max(seen, committed)
            if seen >= len(lines):
                done.set()
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    # The console producer's JVM and serve's first partition assignment are not the latency.
    time.sleep(6 if producer else 1)
    cpu_at_start = cpu_seconds(serve.pid)
    with (producer.stdin if producer else open(source, "ab", buffering=0)) as out:
        start = time.time()
        chunk = max(1, rate // 100)  # write in 10 ms slices
        for i in range(0, len(lines), chunk):
            target = start + i / rate
            delay = target - time.time()
            if delay > 0:
                time.sleep(delay)
            now = time.time()
            out.write(b"".join(lines[i:i + chunk]))
            out.flush()
            for j in range(i, min(i + chunk, len(lines))):
                written_at[j] = now
    done.wait(timeout=30)
    cores = (cpu_seconds(serve.pid) - cpu_at_start) / (time.time() - start)
    if producer:
        producer.wait(timeout=30)
    serve.terminate()
    serve.wait(timeout=30)
    for label, seen_at in (("stored", stored_at), ("checkpointed", visible_at)):
        latencies = sorted((v - w) * 1000 for v, w in zip(seen_at, written_at) if v > 0)
        missing = sum(1 for v in seen_at if v == 0)
        pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]
        print(f"{rate:>6} events/s  {len(lines):>7} events  {label:>12}  p50 {pct(0.5):6.0f} ms  "
              f"p99 {pct(0.99):6.0f} ms  max {latencies[-1]:6.0f} ms  not seen {missing}")
    print(f"{rate:>6} events/s  serve used {cores:.2f} cores meanwhile")


def main():
    args = sys.argv[1:]
    kafka = "--kafka" in args
    rates = [int(r) for r in args if r != "--kafka"] or [1000, 5000]
    with tempfile.TemporaryDirectory() as work:
        broker = Broker(work) if kafka else None
        try:
            print("event-to-page latency (" +
                  ("produced to Kafka" if kafka else "written to the followed file") +
                  " -> visible in the page's server-sent snapshot)")
            for rate in rates:
                run(rate, work, broker)
        finally:
            if broker:
                broker.stop()


main()
