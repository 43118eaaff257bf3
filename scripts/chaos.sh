#!/usr/bin/env bash
# Chaos against the real binaries: a private tansu broker (never the shared one), SQLite,
# store-manager and coolriel, with SIGKILLs, a broker outage, a steady mixed load and
# SIGTERMs under load; prints the counts of each case (sent, published, emailed, lost,
# duplicated, memory, lag, exit codes) and fails if anything was lost or a bound broken.
# Cases (scripts/chaos.py's docstring has the details): consumer-crash, producer-crash,
# broker-outage, load, graceful-shutdown, disk-full (mounts a tmpfs: root or sudo),
# db-connections (a private mariadbd), panics, broker-gone-at-shutdown; `--case NAME`
# (repeatable) runs only those.
#
#   scripts/chaos.sh --quick   CI: 400 users, 5 coolriel kills, 3 store-manager kills, 5 s outage,
#                              40 s of load at 100 req/s, 1 SIGTERM cycle, 200 users on a full
#                              disk, 30 requests without connections, 20 s of panics
#                              (about 3 minutes)
#   scripts/chaos.sh           full: 50 000 users, 5 + 5 kills, 20 s outage, 10 min of load at
#                              100 req/s, 5 SIGTERM cycles, 5 000 users on a full disk, 300
#                              requests without connections, 5 min of panics (tens of minutes)
#   --load-rate R, --load-seconds S, --shutdown-rate R   override the load parameters
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

scripts/broker.sh install
tansu="${COOLRIEL_CACHE:-$HOME/.cache/coolriel}/tansu-0.6.0/bin/tansu"
cargo build --bin store-manager --bin coolriel
work="$(mktemp -d -t coolriel-chaos.XXXXXX)"
echo "[chaos] work directory: $work (logs in $work/logs)" >&2
# The binaries this build made, copied: a target directory shared with other checkouts may
# be rebuilt from another branch while the cases restart the services.
bins="$work/bin"
mkdir -p "$bins"
cp "${CARGO_TARGET_DIR:-$repo_root/target}/debug/store-manager" "${CARGO_TARGET_DIR:-$repo_root/target}/debug/coolriel" "$bins/"
if ! python3 scripts/chaos.py --work "$work" --bins "$bins" --tansu "$tansu" "$@"; then
    # The work directory stays for a look; CI shows the lifecycle lines that explain a failure.
    for name in coolriel store-manager broker; do
        log="$work/logs/$name.log"
        [[ -f "$log" ]] || continue
        echo "[chaos] last lifecycle lines of $log:" >&2
        grep -v -e 'email written' -e 'librdkafka' "$log" | tail -n 40 >&2 || true
    done
    echo "[chaos] failed; work directory kept: $work" >&2
    exit 1
fi
rm -rf "$work"
