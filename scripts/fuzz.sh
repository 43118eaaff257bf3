#!/usr/bin/env bash
# Fuzzing with cargo fuzz (libFuzzer, AddressSanitizer): the event decoder and the email
# templates, the targets in fuzz/fuzz_targets/ (their docs say what each one checks). Each
# target runs for a fixed time; the script prints the executions per target and exits
# non-zero if any target crashed (a panic, a failed check, a memory error, a timeout). The
# crashing input is kept in fuzz/artifacts/<target>/, with the line that reproduces it.
#
#   scripts/fuzz.sh --quick          CI: 60 s per target (2 minutes of fuzzing, plus the build)
#   scripts/fuzz.sh --seconds N      N seconds per target
#
# Options: --targets decode,templates (default: all), --sanitizer address|none (default
# address).
#
# Works on stable Rust: cargo fuzz needs nightly-only compiler flags (-Zsanitizer=address),
# which RUSTC_BOOTSTRAP=1 allows on stable, for the fuzz build only. cargo-fuzz is installed
# from crates.io into ~/.cache/coolriel/cargo-fuzz the first time. The fuzz crate (fuzz/) is
# not a workspace member and builds into ~/.cache/coolriel/fuzz-target, never into
# CARGO_TARGET_DIR: its instrumented flags would rebuild the workspace's cache. The corpus
# grows in fuzz/corpus/<target> (git-ignored), seeded from fuzz/seeds/<target>.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
cache_dir="${COOLRIEL_CACHE:-$HOME/.cache/coolriel}"
cargo_fuzz_version="0.13.2"
cargo_fuzz_root="$cache_dir/cargo-fuzz"
fuzz_target_dir="$cache_dir/fuzz-target"
all_targets=(decode templates)
log() { printf '[fuzz] %s\n' "$*" >&2; }

seconds=60
targets=("${all_targets[@]}")
sanitizer=address
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) seconds=60 ;;
        --seconds) seconds="${2:?--seconds needs a number}"; shift ;;
        --targets) IFS=, read -r -a targets <<<"${2:?--targets needs a list}"; shift ;;
        --sanitizer) sanitizer="${2:?--sanitizer needs address or none}"; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "--seconds: not a positive number: $seconds" >&2; exit 2; }
for target in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $target "* ]] || { echo "unknown target: $target" >&2; exit 2; }
done

# cargo-fuzz, pinned, cached outside the clone; its own build never uses CARGO_TARGET_DIR.
if [[ "$("$cargo_fuzz_root/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $cargo_fuzz_version" ]]; then
    log "installing cargo-fuzz $cargo_fuzz_version into $cargo_fuzz_root"
    env -u CARGO_TARGET_DIR cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked \
        --root "$cargo_fuzz_root"
fi
export PATH="$cargo_fuzz_root/bin:$PATH"

log "building ${targets[*]} (sanitizer: $sanitizer) into $fuzz_target_dir"
build_start=$SECONDS
RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$fuzz_target_dir" \
    cargo fuzz build --fuzz-dir fuzz --sanitizer "$sanitizer"
log "build took $((SECONDS - build_start)) s"
host="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="$fuzz_target_dir/$host/release"

# The templates target writes emails into this directory (tmpfs when there is one).
shm=/dev/shm
[[ -d "$shm" && -w "$shm" ]] || shm="${TMPDIR:-/tmp}"
work="$(mktemp -d "$shm/coolriel-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"

final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }
summary=()
failed=0
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    mkdir -p "$corpus" "$artifacts" "$work/output-$target"
    fuzz_log="$work/$target.log"
    log "$target: fuzzing for $seconds s (corpus $corpus, seeds fuzz/seeds/$target)"
    status=0
    COOLRIEL_FUZZ_OUTPUT_DIR="$work/output-$target" "$bin_dir/$target" \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -dict=fuzz/dicts/events.dict -artifact_prefix="$artifacts/" \
        "$corpus" "fuzz/seeds/$target" >"$fuzz_log" 2>&1 || status=$?
    executions="$(final_stat number_of_executed_units "$fuzz_log")"
    per_second="$(final_stat average_exec_per_sec "$fuzz_log")"
    inputs="$(find "$corpus" -type f | wc -l)"
    if [[ $status -eq 0 ]]; then
        line="$target: ${executions:-?} executions in $seconds s (${per_second:-?}/s), corpus $inputs inputs, no crash"
    else
        failed=1
        crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$fuzz_log" | tail -n 1)"
        cp "$fuzz_log" "$artifacts/fuzz.log"
        line="$target: CRASH (exit $status) after ${executions:-?} executions; input ${crash:-?}"
        log "$target crashed; what failed and the end of its log (whole log: $artifacts/fuzz.log):"
        grep -m 1 -A 12 -e 'panicked at' -e '^==[0-9]*== *ERROR' "$fuzz_log" >&2 || true
        echo "..." >&2
        grep -v -e '^#[0-9]' -e '^	NEW_FUNC' "$fuzz_log" | tail -n 12 >&2 || true
        log "reproduce: $bin_dir/$target ${crash:-<input>}"
        log "  (or: RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$fuzz_target_dir cargo fuzz run --fuzz-dir fuzz $target ${crash:-<input>})"
    fi
    log "$line"
    summary+=("$line")
done

echo "== fuzzing summary ($seconds s per target, sanitizer $sanitizer)"
printf '%s\n' "${summary[@]}"
exit "$failed"
