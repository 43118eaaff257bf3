#!/usr/bin/env bash
# Starts the whole system on this machine: the broker (tansu, installed on first use),
# the topics, store-manager on SQLite (data/store.db) and coolriel (emails in output/).
# Logs go to logs/; Ctrl-C stops everything this script started.
#
#   scripts/up.sh              debug build (fast to compile)
#   scripts/up.sh --release    optimised build
#
# Settings come from the environment or .env (see .env.example).
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

mkdir -p logs output data
log "building store-manager and coolriel ($profile)"
cargo build "${cargo_flags[@]}" --bin store-manager --bin coolriel
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
bin_dir="$target_dir/$profile"

broker_started_here=""
if ! scripts/broker.sh status >/dev/null 2>&1; then
    scripts/broker.sh start
    broker_started_here=1
fi
scripts/broker.sh topics

pids=()
stop_all() {
    trap - INT TERM EXIT
    log "stopping"
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$broker_started_here" ]]; then
        scripts/broker.sh stop
    fi
    log "stopped"
}
trap stop_all INT TERM EXIT

"$bin_dir/store-manager" >>logs/store-manager.log 2>&1 &
pids+=($!)
"$bin_dir/coolriel" run >>logs/coolriel.log 2>&1 &
pids+=($!)

addr="${STORE_MANAGER_ADDR:-127.0.0.1:5000}"
for _ in $(seq 1 100); do
    curl -fs "http://$addr/health-check" >/dev/null 2>&1 && break
    if ! kill -0 "${pids[0]}" 2>/dev/null; then
        log "store-manager exited; see logs/store-manager.log:"
        tail -n 20 logs/store-manager.log >&2
        exit 1
    fi
    sleep 0.2
done

cat >&2 <<MSG
[up] store-manager: http://$addr   (log: logs/store-manager.log, database: ${DATABASE_URL:-sqlite://data/store.db})
[up] coolriel: emails in ${OUTPUT_DIR:-output}/, gallery and metrics at http://${COOLRIEL_ADMIN_ADDR:-127.0.0.1:5001}   (log: logs/coolriel.log)
[up] broker: 127.0.0.1:9092, topics user-events and order-events   (log: logs/broker.log)
[up] try:  curl -X POST http://$addr/users -H 'content-type: application/json' \\
[up]         -d '{"name": "Grace Hopper", "email": "ghopper@example.com", "user_type_id": 2}'
[up] Ctrl-C stops everything.
MSG

# Exit (and stop the rest) as soon as either service dies.
wait -n "${pids[@]}"
log "a service exited; see logs/"
