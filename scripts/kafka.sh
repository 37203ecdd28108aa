#!/usr/bin/env bash
# Single-node Apache Kafka 4.x (KRaft, broker+controller) for local tests and CI.
# Jars come from Maven Central via `mvn dependency:copy-dependencies`; nothing else
# is downloaded. Everything lives in <repo>/.cache/kafka (git-ignored).
#
#   scripts/kafka.sh fetch    download jars into .cache/kafka/<version>/libs (idempotent)
#   scripts/kafka.sh start    fetch if needed, format + start broker, wait, print KAFKA_BOOTSTRAP=...
#   scripts/kafka.sh stop     SIGTERM the broker from the pid file (SIGKILL after 30 s)
#   scripts/kafka.sh status   exit 0 and print bootstrap if running, else exit 1
#   scripts/kafka.sh reset    stop + delete .cache/kafka/run (data, logs, conf)
#
# A second listener on KAFKA_SASL_PORT speaks SASL_PLAINTEXT/PLAIN with the one user
# stream-app / stream-app-secret (tests of authentication errors); start prints it
# as KAFKA_SASL_BOOTSTRAP=...
#
# Env: KAFKA_VERSION (4.4.0), KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093), KAFKA_SASL_PORT (19094),
#      KAFKA_HEAP (768m), KAFKA_WAIT_S (90), LOG4J_VERSION (2.25.5)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION="${LOG4J_VERSION:-2.25.5}"
PORT="${KAFKA_PORT:-19092}"
CPORT="${KAFKA_CONTROLLER_PORT:-19093}"
SPORT="${KAFKA_SASL_PORT:-19094}"
HEAP="${KAFKA_HEAP:-768m}"
WAIT_S="${KAFKA_WAIT_S:-90}"
CACHE="$ROOT/.cache/kafka"
DIST="$CACHE/$VERSION"
LIBS="$DIST/libs"
RUN="$CACHE/run"
PIDF="$RUN/kafka.pid"
LOG="$RUN/logs/server.log"
BOOTSTRAP="127.0.0.1:$PORT"

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

# pid of the running broker, or nothing (checks that the pid really is our JVM)
running_pid() {
  [ -f "$PIDF" ] || return 1
  local pid; pid="$(cat "$PIDF" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka.Kafka' || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_config() {
  mkdir -p "$RUN/conf" "$RUN/data" "$RUN/logs"
  cat > "$RUN/conf/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT,SASL_PLAINTEXT://127.0.0.1:$SPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_PLAINTEXT://127.0.0.1:$SPORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="stream-app" password="stream-app-secret" user_stream-app="stream-app-secret";
log.dirs=$RUN/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
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
  cat > "$RUN/conf/log4j2.properties" <<PROPS
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOG
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

start() {
  if pid="$(running_pid)"; then
    log "already running (pid $pid)"; echo "KAFKA_BOOTSTRAP=$BOOTSTRAP"; echo "KAFKA_SASL_BOOTSTRAP=127.0.0.1:$SPORT"; return 0
  fi
  port_open "$PORT" && die "port $PORT is already in use by another process"
  port_open "$CPORT" && die "port $CPORT is already in use by another process"
  port_open "$SPORT" && die "port $SPORT is already in use by another process"
  fetch
  write_config
  if [ ! -f "$RUN/data/meta.properties" ]; then
    java -cp "$LIBS/*" -Dlog4j2.configurationFile="$RUN/conf/log4j2.properties" \
      kafka.tools.StorageTool format --ignore-formatted -t "${KAFKA_CLUSTER_ID:-c3RyZWFtLWFwcC10ZXN0MQ}" \
      -c "$RUN/conf/server.properties" > "$RUN/logs/format.out" 2>&1 \
      || { cat "$RUN/logs/format.out" >&2; die "storage format failed"; }
  fi
  : > "$LOG"
  local t0=$SECONDS
  nohup java -Xmx"$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$RUN/conf/log4j2.properties" -Dkafka.logs.dir="$RUN/logs" \
    -cp "$LIBS/*" kafka.Kafka "$RUN/conf/server.properties" \
    > "$RUN/logs/kafka.out" 2>&1 < /dev/null 9>&- &
  echo $! > "$PIDF"
  local pid=$!
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$LOG" "$RUN/logs/kafka.out" >&2 || true
      rm -f "$PIDF"; die "broker exited during startup"
    fi
    if port_open "$PORT" && grep -q 'Kafka Server started' "$LOG" 2>/dev/null; then break; fi
    if (( SECONDS - t0 >= WAIT_S )); then
      tail -n 40 "$LOG" "$RUN/logs/kafka.out" >&2 || true
      stop; die "broker not ready within ${WAIT_S}s"
    fi
    sleep 0.5
  done
  log "ready in $((SECONDS - t0))s (pid $pid, logs in $RUN/logs)"
  echo "KAFKA_BOOTSTRAP=$BOOTSTRAP"
  echo "KAFKA_SASL_BOOTSTRAP=127.0.0.1:$SPORT"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then rm -f "$PIDF"; log "not running"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then log "no exit after 30s, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$PIDF"
  log "stopped (pid $pid)"
}

status() {
  local pid
  if pid="$(running_pid)"; then echo "running pid=$pid KAFKA_BOOTSTRAP=$BOOTSTRAP"; else echo "stopped"; return 1; fi
}

# serialize concurrent invocations (e.g. parallel test workers calling start)
mkdir -p "$CACHE"; exec 9>"$CACHE/.lock"; flock 9
case "${1:-}" in
  fetch) fetch; echo "KAFKA_LIBS=$LIBS" ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) stop; rm -rf "$RUN"; log "removed $RUN" ;;
  *) echo "usage: $0 {fetch|start|stop|status|reset}" >&2; exit 2 ;;
esac
