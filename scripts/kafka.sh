#!/usr/bin/env bash
# Apache Kafka 4.x (KRaft, every node broker+controller) for local tests and CI: one
# node by default, or a cluster of KAFKA_NODES nodes on 127.0.0.1 with static voters.
# Jars come from Maven Central via `mvn dependency:copy-dependencies`; nothing else
# is downloaded. Everything lives in <repo>/.cache/kafka (git-ignored).
#
#   scripts/kafka.sh fetch         download jars into .cache/kafka/<version>/libs (idempotent)
#   scripts/kafka.sh start         fetch if needed, format + start every node, wait, print KAFKA_BOOTSTRAP=...
#   scripts/kafka.sh stop          SIGTERM every node from its pid file (SIGKILL after 30 s)
#   scripts/kafka.sh status        exit 0 and print bootstrap if every node runs, else exit 1
#   scripts/kafka.sh reset         stop + delete the run dir (data, logs, conf)
#   scripts/kafka.sh stop-node N   SIGTERM node N (N from 0), as a clean broker shutdown
#   scripts/kafka.sh kill-node N   SIGKILL node N, as a crash
#   scripts/kafka.sh start-node N  start node N again and wait until it is ready
# Use the same KAFKA_NODES and KAFKA_PORT for every command of one cluster.
#
# A second listener speaks SASL_PLAINTEXT/PLAIN with the one user stream-app /
# stream-app-secret (tests of authentication errors); start prints it as KAFKA_SASL_BOOTSTRAP=...
#
# One node (KAFKA_NODES=1): listeners on KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_SASL_PORT;
# data in .cache/kafka/run. N nodes: node i (0..N-1, node.id i+1) listens on
#   KAFKA_PORT+3i (clients), KAFKA_PORT+3i+1 (controller), KAFKA_PORT+3i+2 (SASL),
# e.g. KAFKA_PORT=29092 KAFKA_NODES=3: clients on 29092, 29095, 29098; data in
# .cache/kafka/cluster-<KAFKA_PORT>/node-<i>. With 3 or more nodes every topic and
# the internal ones (consumer offsets, transaction state) default to replication 3
# with min ISR 2; a node that stops heartbeating is fenced after 3 s, so its partitions
# move to new leaders quickly.
#
# Env: KAFKA_VERSION (4.4.0), KAFKA_NODES (1), KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093),
#      KAFKA_SASL_PORT (19094), KAFKA_HEAP (768m for one node, 512m per node of a cluster: three
#      fit a 2-core 24 GB machine next to the tests), KAFKA_WAIT_S (90), LOG4J_VERSION (2.25.5)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION="${LOG4J_VERSION:-2.25.5}"
NODES="${KAFKA_NODES:-1}"
PORT="${KAFKA_PORT:-19092}"
WAIT_S="${KAFKA_WAIT_S:-90}"
CACHE="$ROOT/.cache/kafka"
DIST="$CACHE/$VERSION"
LIBS="$DIST/libs"
[[ "$NODES" =~ ^[1-9][0-9]?$ ]] || { echo "kafka.sh: KAFKA_NODES must be 1-99, got '$NODES'" >&2; exit 2; }
if [ "$NODES" = 1 ]; then
  HEAP="${KAFKA_HEAP:-768m}"
  CLUSTER_DIR="$CACHE/run"
else
  HEAP="${KAFKA_HEAP:-512m}"
  CLUSTER_DIR="$CACHE/cluster-$PORT"
fi
# Replication of every topic and of the internal ones: up to 3, never more than there are nodes.
RF=$(( NODES < 3 ? NODES : 3 ))
MIN_ISR=$(( RF > 1 ? RF - 1 : 1 ))

# Ports and directory of node i (see the header for the derivation).
client_port() { if [ "$NODES" = 1 ]; then echo "$PORT"; else echo $(( PORT + 3 * $1 )); fi; }
controller_port() { if [ "$NODES" = 1 ]; then echo "${KAFKA_CONTROLLER_PORT:-19093}"; else echo $(( PORT + 3 * $1 + 1 )); fi; }
sasl_port() { if [ "$NODES" = 1 ]; then echo "${KAFKA_SASL_PORT:-19094}"; else echo $(( PORT + 3 * $1 + 2 )); fi; }
node_dir() { if [ "$NODES" = 1 ]; then echo "$CLUSTER_DIR"; else echo "$CLUSTER_DIR/node-$1"; fi; }
nodes() { seq 0 $(( NODES - 1 )); }
join_ports() { local f=$1 out=() i; for i in $(nodes); do out+=("127.0.0.1:$($f "$i")"); done; local IFS=,; echo "${out[*]}"; }
BOOTSTRAP="$(join_ports client_port)"
SASL_BOOTSTRAP="$(join_ports sasl_port)"
VOTERS="$(for i in $(nodes); do printf '%s%d@127.0.0.1:%s' "$([ "$i" = 0 ] || echo ,)" $(( i + 1 )) "$(controller_port "$i")"; done)"

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

fetch() {
  [ -f "$DIST/.complete" ] && return 0
  command -v mvn >/dev/null || die "mvn not found (needed to fetch Kafka jars)"
  command -v java >/dev/null || die "java (17+) not found"
  mkdir -p "$DIST"
  rm -rf "$LIBS"
  local dep='<dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version>%s</dependency>\n'
  {
    echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
    echo '<groupId>local</groupId><artifactId>kafka-dist</artifactId><version>1</version><packaging>pom</packaging>'
    echo '<dependencies>'
    printf "$dep" org.apache.kafka kafka_2.13 "$VERSION" ''
    # kafka-tools gives ConsoleProducer/ConsoleConsumer/TopicCommand; Connect is not needed.
    printf "$dep" org.apache.kafka kafka-tools "$VERSION" \
      '<exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions>'
    printf "$dep" org.apache.logging.log4j log4j-api "$LOG4J_VERSION" ''
    printf "$dep" org.apache.logging.log4j log4j-core "$LOG4J_VERSION" ''
    printf "$dep" org.apache.logging.log4j log4j-slf4j-impl "$LOG4J_VERSION" ''
    echo '</dependencies></project>'
  } > "$DIST/pom.xml"
  log "fetching Kafka $VERSION jars with Maven ..."
  mvn -q -B -f "$DIST/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime > "$DIST/mvn.log" 2>&1 \
    || { tail -n 40 "$DIST/mvn.log" >&2; die "mvn failed to fetch org.apache.kafka:kafka_2.13:$VERSION"; }
  [ -n "$(ls "$LIBS"/kafka_2.13-*.jar 2>/dev/null)" ] || die "kafka_2.13 jar missing in $LIBS"
  touch "$DIST/.complete"
}

# pid of node i's running JVM, or nothing (checks that the pid really is our JVM)
running_pid() {
  local pidf; pidf="$(node_dir "$1")/kafka.pid"
  [ -f "$pidf" ] || return 1
  local pid; pid="$(cat "$pidf" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka.Kafka' || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_config() {
  local i=$1 dir; dir="$(node_dir "$1")"
  local port cport sport; port="$(client_port "$i")"; cport="$(controller_port "$i")"; sport="$(sasl_port "$i")"
  mkdir -p "$dir/conf" "$dir/data" "$dir/logs"
  cat > "$dir/conf/server.properties" <<PROPS
process.roles=broker,controller
node.id=$(( i + 1 ))
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport,SASL_PLAINTEXT://127.0.0.1:$sport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sport
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="stream-app" password="stream-app-secret" user_stream-app="stream-app-secret";
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$RF
min.insync.replicas=1
offsets.topic.replication.factor=$RF
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=$RF
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=$RF
share.coordinator.state.topic.min.isr=$MIN_ISR
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
group.coordinator.rebalance.protocols=classic,consumer
group.consumer.min.session.timeout.ms=3000
group.consumer.session.timeout.ms=10000
group.consumer.min.heartbeat.interval.ms=250
group.consumer.heartbeat.interval.ms=500
auto.create.topics.enable=false
log.cleaner.dedupe.buffer.size=2097152
log.cleaner.backoff.ms=1000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
PROPS
  if [ "$NODES" != 1 ]; then
    # A crashed node is fenced (its partitions get new leaders) after 3 s without a heartbeat, not 9.
    cat >> "$dir/conf/server.properties" <<PROPS
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
num.replica.fetchers=1
PROPS
  fi
  cat > "$dir/conf/log4j2.properties" <<PROPS
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
PROPS
}

# Formats (once) and launches node i; prints its pid.
launch() {
  local i=$1 dir; dir="$(node_dir "$1")"
  local p
  for p in "$(client_port "$i")" "$(controller_port "$i")" "$(sasl_port "$i")"; do
    port_open "$p" && die "port $p is already in use by another process"
  done
  write_config "$i"
  if [ ! -f "$dir/data/meta.properties" ]; then
    java -cp "$LIBS/*" -Dlog4j2.configurationFile="$dir/conf/log4j2.properties" \
      kafka.tools.StorageTool format --ignore-formatted -t "${KAFKA_CLUSTER_ID:-c3RyZWFtLWFwcC10ZXN0MQ}" \
      -c "$dir/conf/server.properties" > "$dir/logs/format.out" 2>&1 \
      || { cat "$dir/logs/format.out" >&2; die "storage format failed"; }
  fi
  : > "$dir/logs/server.log"
  local gc=()
  # Three JVMs on two cores: one GC thread each keeps them from starving one another.
  [ "$NODES" = 1 ] || gc=(-XX:ParallelGCThreads=1 -XX:ConcGCThreads=1 -XX:CICompilerCount=2)
  nohup java -Xmx"$HEAP" -XX:+UseG1GC "${gc[@]}" -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/conf/log4j2.properties" -Dkafka.logs.dir="$dir/logs" \
    -cp "$LIBS/*" kafka.Kafka "$dir/conf/server.properties" \
    > "$dir/logs/kafka.out" 2>&1 < /dev/null 9>&- &
  echo $! > "$dir/kafka.pid"
  echo $!
}

# Waits until every node listed (as i:pid) has started; stops them all on failure.
await_nodes() {
  local t0=$1; shift
  local pending=("$@") next ip i pid dir
  while [ "${#pending[@]}" -gt 0 ]; do
    next=()
    for ip in "${pending[@]}"; do
      i="${ip%%:*}"; pid="${ip#*:}"; dir="$(node_dir "$i")"
      if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 40 "$dir/logs/server.log" "$dir/logs/kafka.out" >&2 || true
        rm -f "$dir/kafka.pid"; stop_all; die "$([ "$NODES" = 1 ] && echo broker || echo "node $i") exited during startup"
      fi
      if port_open "$(client_port "$i")" && grep -q 'Kafka Server started' "$dir/logs/server.log" 2>/dev/null; then
        continue
      fi
      next+=("$ip")
    done
    pending=("${next[@]}")
    [ "${#pending[@]}" -gt 0 ] || break
    if (( SECONDS - t0 >= WAIT_S )); then
      for ip in "${pending[@]}"; do tail -n 40 "$(node_dir "${ip%%:*}")/logs/server.log" >&2 || true; done
      stop_all; die "$([ "$NODES" = 1 ] && echo broker || echo "node(s) ${pending[*]%%:*}") not ready within ${WAIT_S}s"
    fi
    sleep 0.5
  done
}

print_bootstrap() {
  echo "KAFKA_BOOTSTRAP=$BOOTSTRAP"
  echo "KAFKA_SASL_BOOTSTRAP=$SASL_BOOTSTRAP"
}

start() {
  local i pid started=() running=0
  for i in $(nodes); do running_pid "$i" > /dev/null && running=$(( running + 1 )); done
  if [ "$running" = "$NODES" ]; then
    if [ "$NODES" = 1 ]; then log "already running (pid $(running_pid 0))"; else log "already running ($NODES nodes)"; fi
    print_bootstrap; return 0
  fi
  fetch
  local t0=$SECONDS
  # Every node at once: a KRaft quorum needs a majority of the voters before any broker is ready.
  for i in $(nodes); do
    running_pid "$i" > /dev/null && continue
    pid="$(launch "$i")"
    started+=("$i:$pid")
  done
  await_nodes "$t0" "${started[@]}"
  if [ "$NODES" = 1 ]; then
    log "ready in $((SECONDS - t0))s (pid ${started[0]#*:}, logs in $CLUSTER_DIR/logs)"
  else
    log "$NODES nodes ready in $((SECONDS - t0))s (logs in $CLUSTER_DIR/node-*/logs)"
  fi
  print_bootstrap
}

# Stops node i: SIGTERM (SIGKILL after 30 s), or SIGKILL at once when $2 is KILL.
stop_node() {
  local i=$1 sig=${2:-TERM} pid dir; dir="$(node_dir "$1")"
  if ! pid="$(running_pid "$i")"; then
    rm -f "$dir/kafka.pid"; log "$([ "$NODES" = 1 ] && echo "not running" || echo "node $i not running")"; return 0
  fi
  kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then log "no exit after 30s, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$dir/kafka.pid"
  if [ "$NODES" = 1 ]; then log "stopped (pid $pid)"; else log "node $i $([ "$sig" = KILL ] && echo killed || echo stopped) (pid $pid)"; fi
}

stop_all() {
  local i pids=()
  # In parallel: a node waiting for its peers to take over its partitions would otherwise wait for nothing.
  for i in $(nodes); do stop_node "$i" & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i" || true; done
}

status() {
  local i pid up=() down=()
  for i in $(nodes); do
    if pid="$(running_pid "$i")"; then up+=("$i=$pid"); else down+=("$i"); fi
  done
  if [ "$NODES" = 1 ]; then
    if [ "${#down[@]}" = 0 ]; then echo "running pid=${up[0]#*=} KAFKA_BOOTSTRAP=$BOOTSTRAP"; else echo "stopped"; return 1; fi
  else
    echo "nodes running: ${up[*]:-none}; stopped: ${down[*]:-none}; KAFKA_BOOTSTRAP=$BOOTSTRAP"
    [ "${#down[@]}" = 0 ]
  fi
}

node_arg() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && (( $1 < NODES )) || die "node number must be 0-$(( NODES - 1 )) (KAFKA_NODES=$NODES), got '${1:-}'"
}

# serialize concurrent invocations (e.g. parallel test workers calling start)
mkdir -p "$CACHE"; exec 9>"$CACHE/.lock"; flock 9
case "${1:-}" in
  fetch) fetch; echo "KAFKA_LIBS=$LIBS" ;;
  start) start ;;
  stop) stop_all ;;
  status) status ;;
  reset) stop_all; rm -rf "$CLUSTER_DIR"; log "removed $CLUSTER_DIR" ;;
  stop-node) node_arg "${2:-}"; stop_node "$2" ;;
  kill-node) node_arg "${2:-}"; stop_node "$2" KILL ;;
  start-node)
    node_arg "${2:-}"
    if pid="$(running_pid "$2")"; then log "node $2 already running (pid $pid)"; else
      fetch; t0=$SECONDS; pid="$(launch "$2")"; await_nodes "$t0" "$2:$pid"; log "node $2 ready in $((SECONDS - t0))s (pid $pid)"
    fi
    echo "KAFKA_BOOTSTRAP=$BOOTSTRAP" ;;
  *) echo "usage: $0 {fetch|start|stop|status|reset|stop-node N|kill-node N|start-node N}" >&2; exit 2 ;;
esac
