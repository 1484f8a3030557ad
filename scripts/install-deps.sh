#!/usr/bin/env bash
# Make a fresh Debian 12 machine ready for `make test` / `make demo`.
#
# For every dependency below, run its checks; collect the Debian packages whose
# checks fail.  As root: `apt-get update` once, then
# `apt-get install -y --no-install-recommends <missing>` (services are kept from
# starting by a temporary /usr/sbin/policy-rc.d).  Not root: print the missing
# packages and the command to install them, exit 1.
# The Rust toolchain (cargo) is checked too, but cannot come from apt here.
#
# Exit status: 0 when everything is present (after installing), 1 otherwise.
set -euo pipefail

# ---------------------------------------------------------------------------
# Dependencies: one line per Debian package: "<package> <check> [<check>...]".
# A check is  cmd:NAME  (a command, also looked up in /usr/sbin and /sbin),
#             file:PATH (an existing file), or
#             dpkg:PKG  (the Debian package PKG is installed).
# Add new packages to the group they belong to (or make a new group and list
# it in ALL_DEPS).
# ---------------------------------------------------------------------------
DEPS_BUILD=(
    "gcc              cmd:gcc cmd:cc"
    "g++              cmd:g++"
    "make             cmd:make"
    "pkg-config       cmd:pkg-config"
    "libssl-dev       file:/usr/include/openssl/ssl.h"
    "perl             cmd:perl dpkg:perl"        # OpenSSL 1.1.1w's Configure (needs more than perl-base)
    "python3          file:/usr/bin/python3"     # build-openssl111.sh parses cargo metadata with it
    "binutils         cmd:nm cmd:objdump cmd:readelf"
    "debian-archive-keyring file:/usr/share/keyrings/debian-archive-keyring.gpg"  # build-openssl.sh's deb-src lists
    "clang            cmd:clang"                 # ThreadSanitizer builds
    "libclang-rt-14-dev dpkg:libclang-rt-14-dev"  # clang's TSan runtime (only Recommended by clang-14 on Debian 12)
)
DEPS_TOOLS=(
    "openssl          cmd:openssl"
    "valgrind         cmd:valgrind"
    "gdb              cmd:gdb"                   # tickets-fork: where a hung child waits
    "file             cmd:file"
    "procps           cmd:ps cmd:pgrep cmd:pkill"
    "curl             cmd:curl"
    "ca-certificates  file:/etc/ssl/certs/ca-certificates.crt"
)
DEPS_SERVERS=(
    "nginx            cmd:nginx"
    "haproxy          cmd:haproxy"
    "stunnel4         cmd:stunnel4"
    "apache2          cmd:apache2"
    "redis-server     cmd:redis-server cmd:redis-cli"   # the store's Redis tier (interop store-redis)
)
ALL_DEPS=("${DEPS_BUILD[@]}" "${DEPS_TOOLS[@]}" "${DEPS_SERVERS[@]}")
# ---------------------------------------------------------------------------

say() { printf 'install-deps: %s\n' "$*" >&2; }

have_cmd() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

dpkg_installed() {
    command -v dpkg-query >/dev/null 2>&1 || return 0   # not a dpkg system: trust the other checks
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

check_ok() {
    case "$1" in
        cmd:*)  have_cmd "${1#cmd:}" ;;
        file:*) [ -e "${1#file:}" ] ;;
        dpkg:*) dpkg_installed "${1#dpkg:}" ;;
        *) say "bad check '$1' in the dependency table"; return 1 ;;
    esac
}

# Prints the packages (one per line) whose checks fail.
missing_packages() {
    local line pkg check
    for line in "${ALL_DEPS[@]}"; do
        # shellcheck disable=SC2086
        set -- $line
        pkg=$1; shift
        for check in "$@"; do
            if ! check_ok "$check"; then
                printf '%s\n' "$pkg"
                break
            fi
        done
    done
}

have_cargo() {
    command -v cargo >/dev/null 2>&1
}

cargo_report() {
    if have_cargo; then
        say "Rust toolchain: $(cargo --version 2>/dev/null || echo 'cargo (version unknown)')"
        return 0
    fi
    say "MISSING: the Rust toolchain (cargo) is not on PATH."
    if [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
        say "  It exists at ${HOME:-/root}/.cargo/bin/cargo: add it to PATH, e.g."
        say "    export PATH=\"\$HOME/.cargo/bin:\$PATH\""
    else
        say "  It is not installed by apt here: install it with rustup (stable toolchain),"
        say "  then make sure ~/.cargo/bin is on PATH."
    fi
    return 1
}

mapfile -t MISSING < <(missing_packages)

if [ "${#MISSING[@]}" -eq 0 ]; then
    say "all Debian packages present"
else
    if [ "$(id -u)" -ne 0 ]; then
        say "missing Debian packages: ${MISSING[*]}"
        say "install them with:"
        printf '  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s\n' >&2 \
            "${MISSING[*]}"
        cargo_report || true
        exit 1
    fi

    say "installing: ${MISSING[*]}"
    export DEBIAN_FRONTEND=noninteractive

    # Keep apt from starting nginx/apache2/haproxy/stunnel services.
    POLICY=/usr/sbin/policy-rc.d
    CREATED_POLICY=0
    cleanup() {
        if [ "$CREATED_POLICY" = 1 ]; then
            rm -f "$POLICY"
        fi
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\n# temporary, created by sesscb scripts/install-deps.sh\nexit 101\n' >"$POLICY"
        chmod 755 "$POLICY"
        CREATED_POLICY=1
    else
        say "note: $POLICY already exists, leaving it as is"
    fi

    apt-get update -q || { say "apt-get update failed"; exit 1; }
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${MISSING[@]}" </dev/null || { say "apt-get install failed"; exit 1; }

    cleanup
    CREATED_POLICY=0
    trap - EXIT

    mapfile -t STILL < <(missing_packages)
    if [ "${#STILL[@]}" -ne 0 ]; then
        say "still missing after apt-get install: ${STILL[*]}"
        exit 1
    fi
    say "all Debian packages present"
fi

cargo_report || exit 1
