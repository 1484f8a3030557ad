#!/usr/bin/env bash
# Build one OpenSSL release line as shared libraries into a cache outside the clone.
#
#   scripts/build-openssl.sh LINE            build (or reuse) the newest release of LINE
#   scripts/build-openssl.sh --prefix LINE   print LINE's install prefix; builds nothing
#
# LINE is 3.5, 3.6 or 4.0; 1.1.1 hands over to scripts/build-openssl111.sh
# (its prefix stays <repo>/target/openssl-1.1.1w). 3.5-nodep is 3.5 configured
# `no-deprecated` (no legacy ticket-key callback, no HMAC_*): the build on
# which the ticket keys must fall back to the EVP callback form.
#
# Source: Debian's source package `openssl`, which carries upstream's complete
# release tarball (.orig.tar.gz; apt checks it against the signed Sources
# index). A private apt state under the cache lists the deb-src entries of
# trixie, sid and experimental, so the machine's apt configuration is not
# touched and no root is needed. The newest Debian version of LINE whose files
# download is used; a version listed but not served is skipped. Debian's own
# patches are not applied: the build is upstream's, configured like a
# distribution's (shared, OpenSSL's version script, so libssl/libcrypto carry
# the OPENSSL_3.0.0 ... / OPENSSL_4.0.0 symbol versions).
#
# Cache: ${SESSCB_CACHE:-$HOME/.cache/sesscb}
#   openssl-<version>-<key>/   install prefix (lib/ include/ bin/openssl ssl/)
#   openssl-<LINE>-<key>       symlink to it: the path the Makefile uses
#   openssl-<version>-<key>.log  build log
#   debian-src/                downloaded source package files, apt/ private apt state
# <key> hashes RECIPE and the configure options, so a change to either builds
# anew beside the old one. A second run with a valid install does not touch
# the network. Set OPENSSL_LINES_FORCE=1 to rebuild.
set -euo pipefail

# Bump when the build steps change in a way the configure options do not show.
RECIPE="debian-orig-2"
DEBIAN_SUITES=(trixie sid experimental)
JOBS=2   # the project's machines have 2 cores

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE="${SESSCB_CACHE:-${HOME:-/root}/.cache/sesscb}"

log() { printf 'build-openssl: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() { die "usage: $0 [--prefix] 1.1.1|3.5|3.6|4.0|3.5-nodep"; }

# Configure options a variant LINE adds (set from the command line below).
EXTRA_ARGS=()
# The release line a LINE builds (3.5-nodep: 3.5).
base_line() { printf '%s\n' "${1%-nodep}"; }

# Configure options for a prefix. Only the shared libraries and the openssl
# app are built (not the static libraries, which upstream compiles from a
# second set of objects, nor modules, tests or docs): half the compile time.
config_args() {
    printf '%s\n' shared no-tests --libdir=lib "--prefix=$1" "--openssldir=$1/ssl" "-Wl,-rpath,$1/lib" \
        ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}
}

# The cache key: the recipe and the configure options with the prefix left out.
cache_key() {
    { echo "$RECIPE"; config_args PREFIX; } | sha256sum | cut -c1-12
}

line_link() { printf '%s/openssl-%s-%s\n' "$CACHE" "$1" "$(cache_key)"; }

soname_major() { case "$1" in 4.*) echo 4 ;; *) echo 3 ;; esac; }

# Checks an install prefix; prints the problem and returns 1 if it is not right.
verify() {
    local prefix=$1 line=$2 major out f
    major="$(soname_major "$line")"
    out="$("$prefix/bin/openssl" version 2>&1)" || { log "$prefix/bin/openssl does not run: $out"; return 1; }
    case "$out" in
        "OpenSSL $line."*) ;;
        *) log "unexpected 'openssl version' output: $out"; return 1 ;;
    esac
    for f in "lib/libssl.so.$major" "lib/libcrypto.so.$major" include/openssl/ssl.h bin/openssl; do
        [ -e "$prefix/$f" ] || { log "missing $prefix/$f"; return 1; }
    done
    local node=OPENSSL_3.0.0
    [ "$major" = 4 ] && node=OPENSSL_4.0.0
    # grep without -q: an early exit would fail readelf with SIGPIPE (pipefail).
    readelf --dyn-syms -W "$prefix/lib/libssl.so.$major" \
        | grep -E "[[:space:]]SSL_CTX_sess_set_new_cb@@$node( |\$)" >/dev/null \
        || { log "libssl.so.$major does not export SSL_CTX_sess_set_new_cb@@$node"; return 1; }
}

# apt-get/apt-cache with a private state that lists only the deb-src entries.
apt_private() {
    local tool=$1; shift
    "$tool" -o Dir::Etc::SourceList="$CACHE/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$CACHE/apt/lists" -o Dir::Cache="$CACHE/apt/cache" \
        -o Dir::State::Status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root "$@"
}

apt_prepare() {
    local suite
    mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial"
    for suite in "${DEBIAN_SUITES[@]}"; do
        printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n' "$suite"
    done >"$CACHE/apt/sources.list"
    apt_private apt-get -q update >>"$LOG" 2>&1 || fail "apt-get update (private deb-src lists)"
}

# Debian versions of `openssl` whose upstream version is in LINE, newest first.
debian_versions() {
    apt_private apt-cache showsrc openssl 2>>"$LOG" \
        | sed -n 's/^Version: //p' | grep -E "^([0-9]+:)?${1//./\\.}\\.[0-9]+-" \
        | sort -u | sort -r -V
}

# Downloads the newest served version of LINE; prints "<debian version>".
download_newest() {
    local line=$1 v
    mkdir -p "$CACHE/debian-src"
    for v in $(debian_versions "$line"); do
        if (cd "$CACHE/debian-src" && apt_private apt-get -q source --download-only "openssl=$v") >>"$LOG" 2>&1; then
            printf '%s\n' "$v"
            return 0
        fi
        log "openssl $v is listed but did not download; trying the next older one"
    done
    return 1
}

fail() {
    log "FAILED: $*"
    log "last lines of $LOG:"
    tail -n 40 "$LOG" >&2 || true
    exit 1
}

# Unpacks the upstream tarball of Debian version $1 and builds it into $2.
build_from_debian_source() {
    local deb=$1 prefix=$2 upstream tarball build
    upstream="${deb#*:}"; upstream="${upstream%-*}"
    tarball="$CACHE/debian-src/openssl_$upstream.orig.tar.gz"
    [ -f "$tarball" ] || fail "$tarball missing after the download"
    build="$prefix.build"
    rm -rf "$build" "$prefix"
    mkdir -p "$build"
    tar -xzf "$tarball" -C "$build" --strip-components=1 || fail "unpack $tarball"
    # Keep the caller's make and compiler environment (jobserver, sanitizer flags) out.
    unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS \
          CC CXX CFLAGS CXXFLAGS CPPFLAGS LDFLAGS LDLIBS AR RANLIB CROSS_COMPILE \
          OPENSSL_CONF OPENSSL_ENGINES OPENSSL_MODULES
    mapfile -t args < <(config_args "$prefix")
    ( cd "$build" && echo "+ ./Configure ${args[*]}" && ./Configure "${args[@]}" ) >>"$LOG" 2>&1 || fail "Configure"
    ( cd "$build" && echo "+ make -j$JOBS build_generated" && make -j"$JOBS" build_generated \
        && echo "+ make -j$JOBS libcrypto.so libssl.so apps/openssl" \
        && make -j"$JOBS" libcrypto.so libssl.so apps/openssl ) >>"$LOG" 2>&1 || fail "make"
    install_shared "$build" "$prefix" >>"$LOG" 2>&1 || fail "install"
    rm -rf "$build"
}

# What install_sw + install_ssldirs would put in the prefix for these targets:
# the shared libraries with their links, the app, the headers, openssl.cnf.
install_shared() {
    local build=$1 prefix=$2 lib
    mkdir -p "$prefix/lib" "$prefix/bin" "$prefix/include/openssl" "$prefix/ssl/certs" "$prefix/ssl/private"
    for lib in libcrypto libssl; do
        cp -P "$build/$lib".so.* "$prefix/lib/"
        ln -sfn "$(basename "$build/$lib".so.*)" "$prefix/lib/$lib.so"
    done
    cp "$build/apps/openssl" "$prefix/bin/openssl"
    cp "$build"/include/openssl/*.h "$prefix/include/openssl/"
    cp "$build/apps/openssl.cnf" "$prefix/ssl/openssl.cnf"
}

stamp_ok() { [ -f "$1/.sesscb-build-stamp" ] && [ "$(head -n1 "$1/.sesscb-build-stamp")" = "$RECIPE $(cache_key)" ]; }

build_line() {
    local line=$1 key link deb upstream prefix start
    key="$(cache_key)"
    link="$(line_link "$line")"
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.openssl-$line.lock"
    flock 9   # one build per line at a time (parallel make, other clones)
    if [ "${OPENSSL_LINES_FORCE:-0}" != 1 ] && [ -L "$link" ] && stamp_ok "$link" \
        && verify "$link" "$(base_line "$line")"; then
        return 0
    fi
    for tool in apt-get apt-cache perl make cc readelf sha256sum; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run scripts/install-deps.sh)"
    done
    LOG="$CACHE/openssl-$line-$key.log"
    : >"$LOG"
    start=$SECONDS
    exec 8>"$CACHE/.apt.lock"
    flock 8   # the private apt state is shared by the lines
    apt_prepare
    deb="$(download_newest "$(base_line "$line")")" || fail "no Debian source version of OpenSSL $line downloaded"
    flock -u 8
    upstream="${deb#*:}"; upstream="${upstream%-*}"
    prefix="$CACHE/openssl-$upstream-$key"
    log "building OpenSSL $upstream (Debian source $deb) into $prefix; log: $LOG"
    build_from_debian_source "$deb" "$prefix"
    verify "$prefix" "$(base_line "$line")" || fail "verification of the installed OpenSSL"
    printf '%s %s\nopenssl %s from Debian source %s\nconfigure: %s\n' "$RECIPE" "$key" "$upstream" "$deb" \
        "$(config_args "$prefix" | tr '\n' ' ')" >"$prefix/.sesscb-build-stamp"
    ln -sfn "$(basename "$prefix")" "$link"
    log "done in $((SECONDS - start))s: $("$prefix/bin/openssl" version)"
}

PRINT_PREFIX=0
if [ "${1:-}" = --prefix ]; then PRINT_PREFIX=1; shift; fi
[ $# -eq 1 ] || usage
case "$1" in
    1.1.1)
        if [ "$PRINT_PREFIX" = 1 ]; then echo "$ROOT/target/openssl-1.1.1w"; exit 0; fi
        exec "$ROOT/scripts/build-openssl111.sh" ;;
    3.5|3.6|4.0) ;;
    3.5-nodep) EXTRA_ARGS=(no-deprecated) ;;
    *) usage ;;
esac
if [ "$PRINT_PREFIX" = 1 ]; then line_link "$1"; exit 0; fi
build_line "$1"
