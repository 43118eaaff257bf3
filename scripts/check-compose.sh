#!/usr/bin/env bash
# Static checks of the deployment files (no Docker engine runs here):
#  1. docker-compose.yml parses and validates (`docker-compose config`, Debian's package),
#  2. every setting store-manager and coolriel read is provided to their containers and
#     listed in .env.example (but the test-only fault hooks, which must be in neither),
#     and every long-running service has a health check,
#  3. both Dockerfiles are multi-stage, run as a non-root user and have a health check.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf '[compose] %s\n' "$*" >&2; }
# as_root, apt_install: root, else sudo, else the exact command to run.
source scripts/as-root.sh

if ! command -v docker-compose >/dev/null; then
    log "installing docker-compose from Debian's packages (only its parser is used)"
    apt_install docker-compose
fi

rendered="$(mktemp)"
trap 'rm -f "$rendered"' EXIT
docker-compose -f docker-compose.yml config >"$rendered"
log "docker-compose.yml is valid"

# Debian's python3 has PyYAML (docker-compose depends on it).
/usr/bin/python3 - "$rendered" <<'PY'
import pathlib, re, sys, yaml

compose = yaml.safe_load(open(sys.argv[1]))
services = compose["services"]
example_keys = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", pathlib.Path(".env.example").read_text(), re.M))

def settings_read(crate):
    """Upper-case string literals in the crate's config and telemetry modules (that is
    where both crates read the environment), plus RUST_LOG, read by the log filter. A
    module may be one file (`config.rs`) or a directory (`config/mod.rs` and its
    submodules; their `tests.rs` is left out: it names settings, it does not read them)."""
    names = {"RUST_LOG"}
    src = pathlib.Path(crate, "src")
    for module in ["config", "telemetry"]:
        files = [src / f"{module}.rs"] if (src / f"{module}.rs").exists() else sorted(
            f for f in (src / module).rglob("*.rs") if f.name != "tests.rs")
        if not files:
            sys.exit(f"[compose] {crate}: no {module}.rs nor {module}/ module in {src}")
        for file in files:
            names |= set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', file.read_text()))
    return names

# The test-only fault hooks (`*_FAULT_*`) make the services panic on purpose: they must be
# read (tests and chaos runs set them) but never provided to a deployment, nor set in
# .env.example (which names them in a comment).
def test_only(name):
    return "_FAULT_" in name

failures = []
for service in ["store-manager", "coolriel"]:
    provided = set(services[service].get("environment") or {})
    needed = settings_read(service)
    deployed = {n for n in needed if not test_only(n)}
    failures += [f"{service}: reads {n}, not set in docker-compose.yml" for n in sorted(deployed - provided)]
    failures += [f"{service}: reads {n}, not listed in .env.example" for n in sorted(deployed - example_keys)]
    failures += [f"{service}: the test-only {n} is set in docker-compose.yml" for n in sorted(provided) if test_only(n)]
    failures += [f"{service}: the test-only {n} is set in .env.example" for n in sorted(example_keys) if test_only(n)]
    print(f"[compose] {service} reads {len(needed)} settings: {', '.join(sorted(needed))}")

for name, service in services.items():
    if "healthcheck" not in service and service.get("restart") != "no":
        failures.append(f"{name}: long-running service without a health check")

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
PY

for dockerfile in store-manager/Dockerfile coolriel/Dockerfile; do
    grep -q '^USER ' "$dockerfile" || { log "$dockerfile: runs as root"; exit 1; }
    grep -q '^HEALTHCHECK ' "$dockerfile" || { log "$dockerfile: no HEALTHCHECK"; exit 1; }
    grep -q '^FROM .* AS build' "$dockerfile" || { log "$dockerfile: not multi-stage"; exit 1; }
done
log "Dockerfiles: multi-stage, non-root, health-checked"
