#!/usr/bin/env bash
# A local single-node Apache Kafka (KRaft: broker + controller in one JVM) for development and
# tests, run from jars that Maven fetches from Maven Central (no Docker, no tarball).
#
#   infra/kafka/kafka.sh start    fetch jars if lib/ is missing, format storage if needed, start, wait until ready
#   infra/kafka/kafka.sh stop     stop the broker started from this data dir and wait for it to exit
#   infra/kafka/kafka.sh status   exit 0 and print "running" when up, exit 1 otherwise
#   infra/kafka/kafka.sh format   format the KRaft storage (new random cluster id) unless already formatted
#   infra/kafka/kafka.sh reset    stop and delete the data dir
#
# Environment (all optional):
#   KAFKA_DATA_DIR         data dir (logs, pid, config)          default <repo>/.kafka
#   KAFKA_PORT             client listener on 127.0.0.1          default 9092
#   KAFKA_CONTROLLER_PORT  KRaft controller listener             default 9093
#   KAFKA_HEAP_OPTS        JVM heap                              default -Xms256m -Xmx512m
#   KAFKA_JVM_OPTS         other JVM flags                       default -XX:+UseSerialGC -XX:TieredStopAtLevel=1
#   KAFKA_START_TIMEOUT    seconds to wait for readiness         default 90
#
# Secured broker (a second instance for the Kafka security tests; give it its own data dir and ports):
#   KAFKA_SECURE=1         KAFKA_PORT is a SASL_SSL listener (SCRAM-SHA-256, SCRAM-SHA-512 and
#                          OAUTHBEARER with Kafka's unsecured-JWT validator — a test setting), and
#                          KAFKA_MTLS_PORT an SSL listener that requires a client certificate.
#                          A CA, a broker certificate (SAN 127.0.0.1, localhost) and a client
#                          certificate are generated with openssl into $KAFKA_DATA_DIR/tls at format
#                          time; SCRAM users are created by `kafka-storage format --add-scram`.
#   KAFKA_MTLS_PORT        mTLS listener                         default KAFKA_PORT+2
#   KAFKA_INTERNAL_PORT    PLAINTEXT inter-broker listener       default KAFKA_PORT+3
#   KAFKA_SCRAM_USER       SCRAM user (both SHA-256 and SHA-512) default keyflow
#   KAFKA_SCRAM_PASSWORD   its password                          default keyflow-secret
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
LIB="$HERE/lib"
DATA="${KAFKA_DATA_DIR:-$REPO/.kafka}"
PORT="${KAFKA_PORT:-9092}"
CPORT="${KAFKA_CONTROLLER_PORT:-9093}"
HEAP="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
# C1 only and the serial collector: a test broker starts in a few seconds and leaves CPU to the tests
JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
SECURE="${KAFKA_SECURE:-0}"
MTLS_PORT="${KAFKA_MTLS_PORT:-$((PORT + 2))}"
INTERNAL_PORT="${KAFKA_INTERNAL_PORT:-$((PORT + 3))}"
SCRAM_USER="${KAFKA_SCRAM_USER:-keyflow}"
SCRAM_PASSWORD="${KAFKA_SCRAM_PASSWORD:-keyflow-secret}"
TLS="$DATA/tls"
PIDFILE="$DATA/kafka.pid"
CONF="$DATA/server.properties"
LOGDIR="$DATA/logs"
METADIR="$DATA/data"

log() { echo "kafka.sh: $*" >&2; }

port_open() {
  # bash's /dev/tcp: no nc/curl needed
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  # a recycled pid that is not our broker does not count
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka.Kafka' || return 1
  echo "$pid"
}

ensure_lib() {
  if [[ ! -f "$LIB/.complete" ]]; then
    command -v mvn >/dev/null || { log "maven (mvn) is required to fetch the broker jars"; exit 1; }
    log "fetching Kafka jars from Maven Central into $LIB"
    mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies >&2
    touch "$LIB/.complete"
  fi
}

classpath() {
  local cp="" j
  for j in "$LIB"/*.jar; do cp="$cp${cp:+:}$j"; done
  echo "$cp"
}

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then echo "$JAVA_HOME/bin/java"; else echo java; fi
}

listener_config() {
  if [[ "$SECURE" != 1 ]]; then
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
    return
  fi
  cat <<EOF
listeners=SASL_SSL://127.0.0.1:$PORT,MTLS://127.0.0.1:$MTLS_PORT,INTERNAL://127.0.0.1:$INTERNAL_PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=SASL_SSL://127.0.0.1:$PORT,MTLS://127.0.0.1:$MTLS_PORT,INTERNAL://127.0.0.1:$INTERNAL_PORT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL
ssl.keystore.type=PKCS12
ssl.keystore.location=$TLS/broker.p12
ssl.keystore.password=$(cat "$TLS/store.pass")
ssl.key.password=$(cat "$TLS/store.pass")
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.pem
ssl.client.auth=none
listener.name.mtls.ssl.client.auth=required
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# OAUTHBEARER with Kafka's built-in unsecured validator (unsigned JWTs, alg none): for tests only
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
EOF
}

# A CA, a broker certificate for 127.0.0.1/localhost and a client certificate, all signed by the CA.
ensure_tls() {
  [[ "$SECURE" == 1 ]] || return 0
  [[ -f "$TLS/.complete" ]] && return 0
  command -v openssl >/dev/null || { log "openssl is required for KAFKA_SECURE=1"; exit 1; }
  rm -rf "$TLS"
  mkdir -p "$TLS"
  chmod 700 "$TLS"
  head -c 18 /dev/urandom | base64 | tr -d '+/=\n' >"$TLS/store.pass"
  local subj=(-subj) days=(-days 30)
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS/ca.key" -out "$TLS/ca.pem" "${days[@]}" "${subj[@]}" "/CN=keyflow test CA" 2>/dev/null
  local name
  for name in broker client; do
    openssl req -newkey rsa:2048 -nodes -keyout "$TLS/$name.key" -out "$TLS/$name.csr" "${subj[@]}" "/CN=keyflow-$name" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$TLS/$name.ext"
    openssl x509 -req -in "$TLS/$name.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
      -out "$TLS/$name.pem" "${days[@]}" -extfile "$TLS/$name.ext" 2>/dev/null
  done
  openssl pkcs12 -export -in "$TLS/broker.pem" -inkey "$TLS/broker.key" -name broker \
    -out "$TLS/broker.p12" -passout "file:$TLS/store.pass"
  touch "$TLS/.complete"
  log "generated a test CA and certificates in $TLS"
}

write_config() {
  mkdir -p "$DATA" "$LOGDIR"
  ensure_tls
  cat >"$CONF" <<EOF
# generated by infra/kafka/kafka.sh — edits are overwritten on start
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
$(listener_config)
log.dirs=$METADIR
num.network.threads=2
num.io.threads=4
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
delete.topic.enable=true
# single node: internal topics cannot have more than one replica; fewer partitions start faster
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# tests create many groups and want the first member to get its partitions at once
group.initial.rebalance.delay.ms=0
# let consumers ask for a short session timeout (KAFKA_SESSION_TIMEOUT_MS): a SIGKILLed processor's
# partitions move within seconds; the broker default floor is 6 s
group.min.session.timeout.ms=1000
# small segments and quick cleanup: test topics are short-lived
log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=60000
log.flush.interval.messages=9223372036854775807
log.initial.task.delay.ms=1000
EOF
}

cmd_format() {
  ensure_lib
  write_config
  if [[ -f "$METADIR/meta.properties" ]]; then
    log "storage already formatted in $METADIR"
    return 0
  fi
  local cid
  # a Kafka Uuid is 16 random bytes in URL-safe base64 without padding
  cid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  log "formatting $METADIR with cluster id $cid"
  local scram=()
  if [[ "$SECURE" == 1 ]]; then
    scram=(--add-scram "SCRAM-SHA-256=[name=$SCRAM_USER,password=$SCRAM_PASSWORD]"
      --add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$SCRAM_PASSWORD]")
  fi
  "$(java_bin)" -Xmx256m -cp "$(classpath)" -Dlog4j2.configurationFile="$HERE/log4j2.xml" \
    -Dkafka.logs.dir="$LOGDIR" kafka.tools.StorageTool format -t "$cid" -c "$CONF" "${scram[@]}" >&2
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if port_open "$PORT"; then echo "running (pid $pid, 127.0.0.1:$PORT)"; return 0; fi
    echo "starting (pid $pid)"
    return 1
  fi
  if port_open "$PORT"; then
    echo "port $PORT is in use by a process not started from $DATA"
    return 1
  fi
  echo "stopped"
  return 1
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    if port_open "$PORT"; then log "already running (pid $pid)"; return 0; fi
  else
    if port_open "$PORT"; then
      log "port $PORT is already in use by another process; stop it or set KAFKA_PORT"
      exit 1
    fi
    rm -f "$PIDFILE"
    cmd_format
    : >"$DATA/kafka.out"
    # readiness is read from server.log: start it afresh so an old run's lines do not count
    [[ -f "$LOGDIR/server.log" ]] && mv -f "$LOGDIR/server.log" "$LOGDIR/server.log.prev"
    # kafka.Kafka runs in the foreground; setsid detaches it from the caller's process group so a
    # Ctrl-C in the terminal that ran `start` does not take the broker down with it; 9>&- keeps
    # the broker from inheriting (and forever holding) the start/stop lock.
    # shellcheck disable=SC2086
    setsid "$(java_bin)" $HEAP $JVM_OPTS -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$HERE/log4j2.xml" -Dkafka.logs.dir="$LOGDIR" \
      -cp "$(classpath)" kafka.Kafka "$CONF" >>"$DATA/kafka.out" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$PIDFILE"
    log "started broker pid $pid (data $DATA, log $LOGDIR/server.log)"
  fi
  # Ready = the server finished its start-up sequence (metadata caught up, listeners serving) and
  # the client port accepts connections. An open port alone is not enough: the acceptor binds
  # before the broker is unfenced.
  local waited=0
  while ((waited < START_TIMEOUT * 5)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "broker exited during start-up; last output:"
      tail -n 30 "$DATA/kafka.out" >&2 || true
      rm -f "$PIDFILE"
      exit 1
    fi
    if grep -q 'Kafka Server started' "$LOGDIR/server.log" 2>/dev/null && port_open "$PORT"; then
      log "ready on 127.0.0.1:$PORT"
      return 0
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  log "broker not ready after ${START_TIMEOUT}s; see $LOGDIR/server.log"
  exit 1
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  # controlled shutdown of a single node is quick; after 30 s stop waiting politely
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= 300)); then
      log "broker pid $pid did not stop in 30s; killing"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$PIDFILE"
  log "stopped (pid $pid)"
}

cmd_reset() {
  cmd_stop
  # keep the lock file itself: another caller may be waiting on it
  find "$DATA" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
  log "removed $DATA"
}

# start, stop and reset of one data dir are serialised: concurrent test runs may call them together
with_lock() {
  mkdir -p "$DATA"
  exec 9>"$DATA/.lock"
  flock 9
  "$@"
}

case "${1:-}" in
  start) with_lock cmd_start ;;
  stop) with_lock cmd_stop ;;
  status) cmd_status ;;
  format) cmd_format ;;
  reset) with_lock cmd_reset ;;
  *)
    echo "usage: $0 start|stop|status|format|reset" >&2
    exit 2
    ;;
esac
