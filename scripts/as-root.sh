# Sourced by the scripts that install system packages or start system services.
#
# as_root 'COMMANDS' ['SHOWN']: runs the shell COMMANDS as root: directly when we are root;
# through sudo when it is installed and usable (no password needed, or a terminal to type
# one); otherwise prints SHOWN (default: COMMANDS), the same commands as a person would
# type them, to run as root, and fails, instead of failing inside apt-get with
# "Permission denied".
as_root() {
    local commands=$1 shown=${2:-$1}
    if [[ "$(id -u)" == 0 ]]; then
        sh -c "$commands"
    elif command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [[ -t 0 ]]; }; then
        sudo sh -c "$commands"
    else
        local why="sudo is not installed"
        if command -v sudo >/dev/null; then
            why="sudo needs a password and there is no terminal to type it"
        fi
        printf '[%s] this step needs root, and %s. Run as root:\n    %s\nthen run %s again.\n' \
            "$(basename "$0" .sh)" "$why" "$shown" "$0" >&2
        return 1
    fi
}

# apt_install PACKAGE...: installs Debian packages as root (see as_root).
apt_install() {
    as_root "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $* >/dev/null" \
        "apt-get update && apt-get install -y $*"
}
