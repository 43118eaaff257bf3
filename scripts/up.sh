#!/usr/bin/env bash
# Starts the whole system on this machine: the broker (tansu, installed on first use),
# the topics, store-manager on SQLite (data/store.db) and coolriel (emails in output/).
# Logs go to logs/; Ctrl-C (or SIGTERM) stops everything this script started, in order:
# the services first (they finish their work and commit), then the broker.
#
#   scripts/up.sh              debug build (fast to compile)
#   scripts/up.sh --release    optimised build
#
# The first run installs the broker and builds the workspace at the same time, with a
# progress line every 30 s (crates built of the total, time left from measured runs).
# A service that stops on its own is named with its exit status and its last log lines,
# and the rest is stopped.
#
# Settings come from the environment or .env (see .env.example); the ports are
# STORE_MANAGER_ADDR (127.0.0.1:5000), COOLRIEL_ADMIN_ADDR (127.0.0.1:5001) and
# BROKER_PORT (9092: the broker this script starts or reuses; KAFKA_BOOTSTRAP_SERVERS
# follows it unless set), so a second copy can run beside another on other ports.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
log() { printf '[up] %s\n' "$*" >&2; }

profile=debug
cargo_flags=()
if [[ "${1:-}" == "--release" ]]; then
    profile=release
    cargo_flags=(--release)
fi

export BROKER_PORT="${BROKER_PORT:-9092}"
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$BROKER_PORT}"
cache_dir="${COOLRIEL_CACHE:-$HOME/.cache/coolriel}"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
bin_dir="$target_dir/$profile"
mkdir -p logs output data

# "9 min 47 s"
human() {
    local seconds=$1
    if ((seconds < 60)); then echo "$seconds s"; else echo "$((seconds / 60)) min $((seconds % 60)) s"; fi
}

# Everything this script starts runs in a session of its own, so the terminal's Ctrl-C
# reaches this script only: a service can then only stop by itself or when told, and a
# stop is never mistaken for a crash.
build_pid=""
broker_started_here=""
service_names=()
service_pids=()
service_logs=()
running=""

stop_all() {
    trap - INT TERM HUP EXIT
    if [[ -n "$build_pid" ]]; then
        kill -TERM "$build_pid" 2>/dev/null || true
        wait "$build_pid" 2>/dev/null || true
    fi
    local i
    for i in "${!service_pids[@]}"; do
        kill -TERM "${service_pids[$i]}" 2>/dev/null || true
    done
    for i in "${!service_pids[@]}"; do
        wait "${service_pids[$i]}" 2>/dev/null || true
    done
    if [[ -n "$broker_started_here" ]]; then
        scripts/broker.sh stop
    fi
}

on_signal() {
    log "stopping (${1})"
    local started=$SECONDS
    stop_all
    if [[ -n "$running" ]]; then
        log "stopped in $(human $((SECONDS - started)))"
        exit 0
    fi
    log "stopped before the system was up"
    exit 130
}
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGHUP' HUP
trap stop_all EXIT

# 1. Build (and on the first run install the broker beside it).
step_started=$SECONDS
tasks=()
if ! scripts/broker.sh installed; then
    log "step 1/3: installing the broker (tansu, once, from crates.io into $cache_dir) and building store-manager and coolriel ($profile), at the same time"
    tasks+=(--task tansu-0.6.0 tansu "$cache_dir/tansu-install.log" scripts/broker.sh install)
else
    log "step 1/3: building store-manager and coolriel ($profile)"
fi
tasks+=(--task "build-$profile" workspace logs/build.log --capture
    cargo build "${cargo_flags[@]}" --bin store-manager --bin coolriel)
# In the background, so this script keeps receiving the signals (see above).
scripts/progress.py --prefix up "${tasks[@]}" &
build_pid=$!
build_status=0
wait "$build_pid" || build_status=$?
build_pid=""
if ((build_status != 0)); then
    log "step 1/3 failed after $(human $((SECONDS - step_started)))"
    exit 1
fi
log "step 1/3 done in $(human $((SECONDS - step_started)))"

# 2. The broker and the topics.
step_started=$SECONDS
log "step 2/3: the broker on 127.0.0.1:$BROKER_PORT and its topics"
if ! scripts/broker.sh status >/dev/null 2>&1; then
    broker_started_here=1
    scripts/broker.sh start
fi
scripts/broker.sh topics
log "step 2/3 done in $(human $((SECONDS - step_started)))"

# 3. The services.
step_started=$SECONDS
log "step 3/3: starting store-manager and coolriel"
# start_service NAME LOG COMMAND...: in a session of its own (no job control here, so
# setsid runs in place and $! is the service's pid).
start_service() {
    local name=$1 log_file=$2
    shift 2
    setsid "$@" >>"$log_file" 2>&1 &
    service_names+=("$name")
    service_pids+=($!)
    service_logs+=("$log_file")
}
start_service store-manager logs/store-manager.log "$bin_dir/store-manager"
start_service coolriel logs/coolriel.log "$bin_dir/coolriel" run

# report_exit INDEX STATUS: a service stopped by itself: which, how, and its last lines.
report_exit() {
    local i=$1 status=$2 how
    if ((status > 128)); then
        how="was killed by SIG$(kill -l $((status - 128)) 2>/dev/null || echo "$((status - 128))") (exit status $status)"
    else
        how="exited by itself with status $status"
    fi
    log "${service_names[$i]} $how; from ${service_logs[$i]}:"
    # Its last error (a backtrace would push it out of a plain tail), else its last lines.
    tail -n 300 "${service_logs[$i]}" | awk '
        { line[NR] = $0 }
        /^Error: |panicked at|^error: / { from = NR }
        END { if (!from) from = NR > 20 ? NR - 19 : 1
              for (i = from; i <= NR && i < from + 20; i++) print "    " line[i] }' >&2
    unset 'service_pids[i]'
}

addr="${STORE_MANAGER_ADDR:-127.0.0.1:5000}"
for _ in $(seq 1 100); do
    curl -fs "http://$addr/health-check" >/dev/null 2>&1 && break
    if ! kill -0 "${service_pids[0]}" 2>/dev/null; then
        status=0
        wait "${service_pids[0]}" || status=$?
        report_exit 0 "$status"
        exit 1
    fi
    sleep 0.2
done
running=1
log "step 3/3 done in $(human $((SECONDS - step_started)))"

cat >&2 <<MSG
[up] store-manager: http://$addr   (log: logs/store-manager.log, database: ${DATABASE_URL:-sqlite://data/store.db})
[up] coolriel: emails in ${OUTPUT_DIR:-output}/, gallery and metrics at http://${COOLRIEL_ADMIN_ADDR:-127.0.0.1:5001}   (log: logs/coolriel.log)
[up] broker: $KAFKA_BOOTSTRAP_SERVERS, topics user-events and order-events   (log: ${BROKER_LOG:-logs/broker.log})
[up] try:  curl -X POST http://$addr/users -H 'content-type: application/json' \\
[up]         -d '{"name": "Grace Hopper", "email": "ghopper@example.com", "user_type_id": 2}'
[up] Ctrl-C stops everything.
MSG

# Until a signal (the traps above end the script) or a service stopping by itself.
exited=""
status=0
wait -n -p exited "${service_pids[@]}" || status=$?
for i in "${!service_pids[@]}"; do
    if [[ "${service_pids[$i]}" == "$exited" ]]; then
        report_exit "$i" "$status"
    fi
done
log "stopping the rest"
stop_all
log "stopped"
exit 1
