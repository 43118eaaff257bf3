#!/usr/bin/env bash
# Benchmarks: every stage of the system against its own limit, in one run; writes
# BENCHMARKS.md (see the `bench` crate for what each case measures).
#
#   scripts/bench.sh            full mode (the issue's counts; see BENCHMARKS.md for the time)
#   scripts/bench.sh --quick    smoke run with scaled-down counts (a few minutes)
#
# Options: --runs N (default 3), --cases 1,2,... (default all), --no-mysql (SQLite only),
# --output FILE (default BENCHMARKS.md in the repository). Environment: BENCH_KEEP_WORK=1
# keeps the work directory (every process's log) instead of removing it; BENCH_SERVICE_LOG
# is the services' RUST_LOG (default info).
#
# Everything it uses is private and removed afterwards: a tansu broker per case on a free
# port with its log in a SQLite file in the work directory (the shared broker on 9092 is
# not touched), SQLite files in a temp directory, and MariaDB databases named bench_<tag>_* on 127.0.0.1:3306 when a server
# answers there. Release builds only; CARGO_TARGET_DIR defaults to ~/.cache/coolriel/target.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${COOLRIEL_CACHE:-$HOME/.cache/coolriel}"
tansu_bin="$cache_dir/tansu-0.6.0/bin/tansu"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache_dir/target}"

quick=()
runs=3
cases=""
use_mysql=1
output="$repo_root/BENCHMARKS.md"
command_line="scripts/bench.sh $*"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=(--quick) ;;
        --runs) runs="$2"; shift ;;
        --cases) cases="$2"; shift ;;
        --no-mysql) use_mysql=0 ;;
        --output) output="$2"; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[bench.sh] %s\n' "$*" >&2; }
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

log "building release binaries (store-manager, coolriel, bench)"
cargo build --release --quiet --bin store-manager --bin coolriel --bin bench \
    --manifest-path "$repo_root/Cargo.toml"

if [[ ! -x "$tansu_bin" ]]; then
    "$repo_root/scripts/broker.sh" install
fi

# Case 7's baseline, the lab's Python consumer, needs confluent-kafka: a venv of its own in
# the cache (pinned; its wheel carries librdkafka, so nothing to compile).
readonly CONFLUENT_KAFKA_VERSION=2.12.0
venv="$cache_dir/bench-venv-confluent-kafka-$CONFLUENT_KAFKA_VERSION"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
    log "installing confluent-kafka $CONFLUENT_KAFKA_VERSION into $venv (case 7's lab consumer)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "confluent-kafka==$CONFLUENT_KAFKA_VERSION"
fi

tag="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
work="$(mktemp -d "${TMPDIR:-/tmp}/coolriel-bench.XXXXXX")"
mysql_url=""

cleanup() {
    if [[ -n "$mysql_url" ]] && command -v mysql >/dev/null; then
        # The harness drops its databases; this catches the ones of an interrupted run.
        mysql -uroot -h127.0.0.1 -N -e "SHOW DATABASES LIKE 'bench\\_${tag}\\_%'" 2>/dev/null |
            while read -r db; do mysql -uroot -h127.0.0.1 -e "DROP DATABASE \`$db\`" || true; done
    fi
    if [[ -n "${BENCH_KEEP_WORK:-}" ]]; then
        log "kept the work directory (logs of every process): $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# Each case gets a fresh private tansu from the harness (procs::Broker), its log in a SQLite
# file under the work directory: a case never runs against a log the cases before it filled
# (a 1.4-million-event log made case 4's commit -> ack p99 twenty times worse in one run).
# Not memory://, although it would leave the disk to the services under test: tansu 0.6.0's
# memory engine answers a fetch from an offset inside a record batch with the next batch
# (the records in between are never delivered) and reports high watermarks short of what
# it acknowledged. A consumer resuming from a committed offset after a rebalance lands
# inside a batch, so the 2-instance drain lost events and the replay stopped short on it
# (checked with confluent-kafka: assign at 250 of batches of 200 -> first offset 400 on
# memory://, 250 on sqlite://).

if [[ $use_mysql -eq 1 ]] && answers 3306; then
    mysql_url="mysql://root@127.0.0.1:3306"
    log "MariaDB cases on $mysql_url (databases bench_${tag}_*, dropped afterwards)"
else
    log "no MariaDB: SQLite cases only"
fi

bench_args=(
    "${quick[@]}" --runs "$runs" --tansu "$tansu_bin" --broker-script "$repo_root/scripts/broker.sh"
    --bin-dir "$CARGO_TARGET_DIR/release" --templates "$repo_root/templates"
    --work "$work" --output "$output" --tag "$tag" --command "$command_line"
    --python "$venv/bin/python" --lab-consumer "$repo_root/bench/lab_consumer.py"
    --broker-description "a fresh private tansu 0.6.0 per case, sqlite:// storage in the work directory, header index"
)
[[ -n "$mysql_url" ]] && bench_args+=(--mysql "$mysql_url")
[[ -n "$cases" ]] && bench_args+=(--cases "$cases")

cd "$repo_root"
"$CARGO_TARGET_DIR/release/bench" "${bench_args[@]}"
