#!/usr/bin/env bash
# The local Kafka-compatible broker (tansu, pinned) for scripts/up.sh, scripts/test.sh and
# the benchmarks. Docker cannot run on the development machines, so instead of Apache Kafka
# we install tansu from crates.io once, into a cache outside the repository, and reuse it.
#
#   scripts/broker.sh install        build tansu into $COOLRIEL_CACHE (once; 16 min alone on
#                                    2 cores, 23 min beside the workspace build), showing
#                                    its progress (scripts/progress.py)
#   scripts/broker.sh installed      exit 0 when tansu is installed, 1 when not
#   scripts/broker.sh start          start it on 127.0.0.1:$BROKER_PORT unless a broker answers there
#   scripts/broker.sh stop           stop the broker this script started
#   scripts/broker.sh topics         create the system's topics (idempotent)
#   scripts/broker.sh status         say whether a broker answers
#   scripts/broker.sh index-headers DB
#                                    add the header index to the tansu SQLite file DB
#                                    (done by `start`; see index_headers)
#   scripts/broker.sh events [TOPIC] [PARTITIONS]
#                                    print every message of TOPIC (default user-events, 3
#                                    partitions, as `topics` creates them), by partition
#
# Settings (environment): COOLRIEL_CACHE (default ~/.cache/coolriel), BROKER_PORT (default
# 9092), BROKER_DATA_DIR (where the log is kept, default data/broker in the repository),
# BROKER_LOG (default logs/broker.log).
set -euo pipefail

readonly TANSU_VERSION=0.6.0
# dynostore is the storage layer; libsql gives the SQLite engine, so the event log survives
# a broker restart (the point of event sourcing).
readonly TANSU_FEATURES=dynostore,libsql
readonly BROKER_HOST=127.0.0.1
readonly BROKER_PORT="${BROKER_PORT:-9092}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${COOLRIEL_CACHE:-$HOME/.cache/coolriel}"
tansu_root="$cache_dir/tansu-$TANSU_VERSION"
tansu_bin="$tansu_root/bin/tansu"
data_dir="${BROKER_DATA_DIR:-$repo_root/data/broker}"
log_file="${BROKER_LOG:-$repo_root/logs/broker.log}"
pid_file="$data_dir/tansu.pid"

log() { printf '[broker] %s\n' "$*" >&2; }
# as_root, apt_install: root, else sudo, else the exact command to run.
source "$repo_root/scripts/as-root.sh"

broker_answers() {
    (exec 3<>"/dev/tcp/$BROKER_HOST/$BROKER_PORT") 2>/dev/null
}

install_broker() {
    if [[ -x "$tansu_bin" ]]; then
        return 0
    fi
    if ! command -v cargo >/dev/null || ! cargo --version >/dev/null 2>&1; then
        log "cannot install tansu: cargo does not run for $(id -un) (install Rust for this user: rustup, or Debian's cargo)"
        return 1
    fi
    log "installing tansu $TANSU_VERSION into $tansu_root (once: it is built from crates.io)"
    mkdir -p "$cache_dir"
    local install_log="$cache_dir/tansu-install.log"
    # A separate target dir so the workspace's own cache is not invalidated.
    local install=(env CARGO_TARGET_DIR="$cache_dir/tansu-build" cargo install tansu --locked
        --version "$TANSU_VERSION" --no-default-features --features "$TANSU_FEATURES"
        --root "$tansu_root")
    local status=0
    if [[ -n "${COOLRIEL_PROGRESS_SHOWN:-}" ]]; then
        # scripts/progress.py runs us and follows this log.
        "${install[@]}" >"$install_log" 2>&1 || status=$?
    else
        "$repo_root/scripts/progress.py" --prefix broker \
            --task "tansu-$TANSU_VERSION" tansu "$install_log" --capture "${install[@]}" || status=$?
    fi
    if ((status != 0)); then
        # scripts/progress.py has printed the log's last lines.
        log "tansu install failed (log: $install_log)"
        return 1
    fi
    rm -rf "$cache_dir/tansu-build"
}

start_broker() {
    if broker_answers; then
        log "a broker already answers on $BROKER_HOST:$BROKER_PORT; using it"
        # Ours from an earlier start (its log is here): make sure it has the index.
        if [[ -f "$data_dir/tansu.db" ]]; then
            index_headers "$data_dir/tansu.db"
        fi
        return 0
    fi
    install_broker
    mkdir -p "$data_dir" "$(dirname "$log_file")"
    log "starting tansu on $BROKER_HOST:$BROKER_PORT (log in $data_dir/tansu.db, output in $log_file)"
    # tansu joins a sqlite:// path onto its working directory, so run it from the data dir.
    # Its own session: a Ctrl-C in the terminal of scripts/up.sh must not reach it. up.sh
    # (which alone receives it: its services run in sessions of their own too) stops the
    # services first, which leave their groups and commit offsets on a broker still up,
    # then the broker. (The script runs without job control, so the subshell
    # is no group leader and setsid execs in place: $! stays tansu's pid.)
    (
        cd "$data_dir"
        exec setsid "$tansu_bin" broker \
            --storage-engine sqlite://tansu.db \
            --kafka-listener-url "tcp://$BROKER_HOST:$BROKER_PORT" \
            --kafka-advertised-listener-url "tcp://$BROKER_HOST:$BROKER_PORT"
    ) >>"$log_file" 2>&1 &
    echo $! >"$pid_file"
    for _ in $(seq 1 100); do
        if broker_answers; then
            log "tansu is up (pid $(cat "$pid_file"))"
            index_headers "$data_dir/tansu.db"
            return 0
        fi
        if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
            log "tansu exited during start-up; last lines of $log_file:"
            tail -n 20 "$log_file" >&2
            return 1
        fi
        sleep 0.1
    done
    log "tansu did not answer on $BROKER_HOST:$BROKER_PORT within 10 s"
    return 1
}

# index_headers DB: tansu 0.6.0's SQLite schema has no index on `header (topition,
# offset_id)`, so every record a fetch returns scans every header of the log: a consumer's
# cost per event grows with the log, until fetches time out. Measured on the benchmark's
# latency case: tansu at 1.2 cores in `sqlite3VdbeExec`/`pread` (perf) and commit -> ack
# p99 of 41 s after 30 000 events at 1000/s; scripts/chaos.py measured a 29 000-event
# replay going from no answer in 30 s to 2.1 s. The index changes no data and no answer
# of the broker, only how fast it finds the headers. Run once the broker has created its
# schema (it is up); idempotent.
index_headers() {
    local db=$1
    local sql="CREATE INDEX IF NOT EXISTS coolriel_header_record ON header (topition, offset_id)"
    if command -v python3 >/dev/null; then
        python3 - "$db" "$sql" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
try:
    db.execute(sys.argv[2])
    db.commit()
finally:
    db.close()
PY
    else
        if ! command -v sqlite3 >/dev/null; then
            log "installing sqlite3 (to index tansu's header table)"
            apt_install sqlite3
        fi
        sqlite3 -cmd ".timeout 30000" "$db" "$sql;"
    fi
    log "header index in place ($db)"
}

stop_broker() {
    if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
        local pid
        pid="$(cat "$pid_file")"
        kill "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        log "tansu stopped"
    fi
    rm -f "$pid_file"
}

# create_topic NAME PARTITIONS: an existing topic is fine.
create_topic() {
    local name=$1 partitions=$2 output
    if output="$("$tansu_bin" topic create "$name" --partitions "$partitions" \
        --broker "tcp://$BROKER_HOST:$BROKER_PORT" 2>&1)"; then
        log "topic $name ($partitions partitions) created"
    elif grep -qi 'exist' <<<"$output"; then
        log "topic $name already exists"
    else
        log "could not create topic $name: $output"
        return 1
    fi
}

create_topics() {
    install_broker
    create_topic user-events 3
    create_topic user-events.dlq 3
    create_topic order-events 3
    create_topic order-events.dlq 3
}

# print_events TOPIC PARTITIONS: each partition's messages as JSON (tansu's own client;
# Debian's kcat is too old to talk to tansu). Never ask for a partition that does not
# exist: tansu 0.6.0 panics on it and stops answering.
print_events() {
    local topic=$1 partitions=$2 partition output
    install_broker
    for ((partition = 0; partition < partitions; partition++)); do
        output="$("$tansu_bin" cat consume "$topic" --partition "$partition" \
            --broker "tcp://$BROKER_HOST:$BROKER_PORT" --max-wait-time-ms 300)"
        printf 'partition %d: %s\n' "$partition" "${output:-[]}"
    done
}

case "${1:-}" in
install) install_broker ;;
installed) [[ -x "$tansu_bin" ]] ;;
start) start_broker ;;
stop) stop_broker ;;
topics) create_topics ;;
events) print_events "${2:-user-events}" "${3:-3}" ;;
index-headers) index_headers "${2:?usage: $0 index-headers DB}" ;;
status)
    if broker_answers; then echo "broker answers on $BROKER_HOST:$BROKER_PORT"; else
        echo "no broker on $BROKER_HOST:$BROKER_PORT"
        exit 1
    fi
    ;;
*)
    echo "usage: $0 install|installed|start|stop|topics|status|events [topic] [partitions]|index-headers DB" >&2
    exit 2
    ;;
esac
