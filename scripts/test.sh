#!/usr/bin/env bash
# Runs the whole test suite against real services: the Kafka-compatible broker (tansu,
# installed and started by scripts/broker.sh when none answers on 127.0.0.1:9092) and a
# MySQL-compatible server on 127.0.0.1:3306 (MariaDB, installed from Debian's packages and
# started when none answers), and Debian's chromium for coolriel's headless-browser gallery
# test (installed when missing). A database or browser that cannot be installed or started
# is an error, on CI as anywhere: the scenarios that need them never skip silently.
#
#   scripts/test.sh                 cargo test --workspace, then the Postman collection
#   scripts/test.sh -p coolriel     extra arguments go to cargo test
#
# Settings: TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306), KAFKA_BOOTSTRAP_SERVERS
# (default 127.0.0.1:9092), CHROMIUM (a browser binary other than `chromium`).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
log() { printf '[test] %s\n' "$*" >&2; }
# as_root, apt_install: root, else sudo, else the exact command to run.
source scripts/as-root.sh

mysql_answers() { (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; }

ensure_build_tools() {
    # librdkafka is compiled from source by rdkafka-sys.
    local missing=()
    command -v cc >/dev/null || missing+=(gcc)
    command -v c++ >/dev/null || missing+=(g++)
    command -v make >/dev/null || missing+=(make)
    command -v perl >/dev/null || missing+=(perl)
    if ((${#missing[@]})); then
        log "installing build tools: ${missing[*]}"
        apt_install "${missing[@]}"
    fi
}

ensure_mariadb() {
    if mysql_answers; then
        return 0
    fi
    if ! command -v mariadbd >/dev/null; then
        log "installing MariaDB from Debian's packages"
        apt_install mariadb-server
    fi
    log "starting MariaDB"
    as_root "mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld && start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql"
    for _ in $(seq 1 100); do
        mysql_answers && break
        sleep 0.2
    done
    if ! mysql_answers; then
        log "MariaDB did not start; the database scenarios cannot run"
        return 1
    fi
    # Debian's root uses unix_socket auth; the tests connect over TCP with no password.
    as_root "mariadb -uroot -e \"ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket\"" 2>/dev/null || true
}

ensure_chromium() {
    # coolriel's gallery test drives a real headless browser (Debian's chromium package).
    if command -v chromium >/dev/null || [[ -n "${CHROMIUM:-}" ]]; then
        return 0
    fi
    log "installing chromium from Debian's packages (headless browser for the gallery test)"
    apt_install chromium
}

drop_leftover_test_databases() {
    command -v mariadb >/dev/null || return 0
    local leftovers
    leftovers="$(mariadb -uroot -h127.0.0.1 -N -e "SHOW DATABASES LIKE 'coolriel\\_test\\_%'" 2>/dev/null || true)"
    for name in $leftovers; do
        mariadb -uroot -h127.0.0.1 -e "DROP DATABASE \`$name\`" 2>/dev/null || true
    done
}

ensure_build_tools
ensure_mariadb
ensure_chromium
drop_leftover_test_databases

# The broker: reuse one that answers, else start a throw-away one with its own log.
broker_started_here=""
if ! scripts/broker.sh status >/dev/null 2>&1; then
    broker_dir="$(mktemp -d -t coolriel-test-broker.XXXXXX)"
    export BROKER_DATA_DIR="$broker_dir" BROKER_LOG="$broker_dir/broker.log"
    scripts/broker.sh start
    broker_started_here=1
fi
cleanup() {
    if [[ -n "$broker_started_here" ]]; then
        scripts/broker.sh stop || true
        rm -rf "$BROKER_DATA_DIR"
    fi
}
trap cleanup EXIT

# The outage tests run a private broker of their own.
scripts/broker.sh install
export TANSU_BIN="${COOLRIEL_CACHE:-$HOME/.cache/coolriel}/tansu-0.6.0/bin/tansu"

started=$SECONDS
log "cargo test --workspace $*"
cargo test --workspace "$@"
log "tests passed in $((SECONDS - started)) s"

# --- The Postman collection --------------------------------------------------------------
# docs/collections/store-manager.postman.json, run by newman (pinned, installed from npm
# into a cache outside the repository) against a store-manager of its own: a free port, a
# fresh SQLite database, topics of its own on the broker (no consumer of the system's
# topics sees its events).
readonly NEWMAN_VERSION=6.2.2
run_postman_collection() {
    local newman_dir="${COOLRIEL_CACHE:-$HOME/.cache/coolriel}/newman-$NEWMAN_VERSION"
    local newman="$newman_dir/node_modules/.bin/newman"
    if [[ ! -x "$newman" ]]; then
        command -v npm >/dev/null || { log "npm is needed to install newman"; return 1; }
        log "installing newman $NEWMAN_VERSION from npm into $newman_dir"
        npm install --prefix "$newman_dir" --no-audit --no-fund --no-save --loglevel=error \
            "newman@$NEWMAN_VERSION" >/dev/null
    fi
    cargo build -q -p store-manager --bin store-manager
    local work port suffix topic status=0
    work="$(mktemp -d -t coolriel-newman.XXXXXX)"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    suffix="newman-$$-$RANDOM"
    for topic in "user-events-$suffix" "order-events-$suffix"; do
        "$TANSU_BIN" topic create "$topic" --partitions 3 --broker tcp://127.0.0.1:9092 >/dev/null
    done
    DATABASE_URL="sqlite://$work/store.db?mode=rwc" STORE_MANAGER_ADDR="127.0.0.1:$port" \
        USER_EVENTS_TOPIC="user-events-$suffix" ORDER_EVENTS_TOPIC="order-events-$suffix" \
        "${CARGO_TARGET_DIR:-$repo_root/target}/debug/store-manager" >"$work/store-manager.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    log "newman: docs/collections/store-manager.postman.json against http://127.0.0.1:$port"
    "$newman" run docs/collections/store-manager.postman.json \
        --env-var "baseURL=http://127.0.0.1:$port" --color off || status=$?
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
    if ((status)); then
        log "the Postman collection failed; store-manager's log: $work/store-manager.log"
        return "$status"
    fi
    rm -rf "$work"
}
run_postman_collection
