#!/usr/bin/env bash
# Chaos against the real binaries: a private tansu broker (never the shared one), SQLite,
# store-manager and coolriel, with SIGKILLs and a broker outage; prints the counts of each
# case (sent, published, emailed, lost, duplicated) and fails if anything was lost.
#
#   scripts/chaos.sh --quick   CI: 400 users, 5 coolriel kills, 3 store-manager kills, 5 s outage
#   scripts/chaos.sh           full: 50 000 users, 5 + 5 kills, 20 s outage (tens of minutes)
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

scripts/broker.sh install
tansu="${COOLRIEL_CACHE:-$HOME/.cache/coolriel}/tansu-0.6.0/bin/tansu"
cargo build --bin store-manager --bin coolriel
bins="${CARGO_TARGET_DIR:-$repo_root/target}/debug"
work="$(mktemp -d -t coolriel-chaos.XXXXXX)"
echo "[chaos] work directory: $work (logs in $work/logs)" >&2
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
