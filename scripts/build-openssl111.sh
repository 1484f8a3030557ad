#!/usr/bin/env bash
# Build upstream OpenSSL 1.1.1w as a *shared* library into <repo>/target/openssl-1.1.1w.
#
# The source comes from the `openssl-src` crate (=111.28.2, folder `openssl/`),
# fetched through cargo via the standalone helper crate tools/openssl111.
# The cargo registry copy is never modified: it is copied into
# <repo>/target/openssl-1.1.1w-build first.
#
# Result (prefix <repo>/target/openssl-1.1.1w):
#   lib/libssl.so.1.1  lib/libcrypto.so.1.1  include/openssl/*.h  bin/openssl
#
# Idempotent: does nothing when lib/libssl.so.1.1 exists and the stamp file
# matches the version + configure options below.  Quiet: the build log goes to
# <repo>/target/openssl-1.1.1w-build.log, its tail is printed on failure.
# Works from any cwd.  Always uses <repo>/target (CARGO_TARGET_DIR is ignored).
# Set OPENSSL111_FORCE=1 to rebuild unconditionally.
set -euo pipefail

VERSION="1.1.1w"
CRATE_VERSION="111.28.2+1.1.1w"

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
TARGET="$ROOT/target"
PREFIX="$TARGET/openssl-$VERSION"
BUILD="$TARGET/openssl-$VERSION-build"
LOG="$TARGET/openssl-$VERSION-build.log"
STAMP="$PREFIX/.sesscb-build-stamp"
MANIFEST="$ROOT/tools/openssl111/Cargo.toml"

# Upstream default linking (-Bsymbolic etc.) is kept; OpenSSL is not patched.
CONFIG_ARGS=(
    shared
    "--prefix=$PREFIX"
    "--openssldir=$PREFIX/ssl"
    "-Wl,-rpath,$PREFIX/lib"
    no-tests
)
STAMP_TEXT="openssl $VERSION crate $CRATE_VERSION config: ${CONFIG_ARGS[*]}"

log() { printf 'build-openssl111: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Checks the installed prefix; prints the problem and returns 1 if it is not right.
verify() {
    local out f
    out="$("$PREFIX/bin/openssl" version 2>&1)" || { log "$PREFIX/bin/openssl does not run: $out"; return 1; }
    case "$out" in
        "OpenSSL $VERSION "*) ;;
        *) log "unexpected 'openssl version' output: $out"; return 1 ;;
    esac
    for f in lib/libssl.so.1.1 lib/libcrypto.so.1.1 include/openssl/ssl.h include/openssl/opensslv.h bin/openssl; do
        [ -e "$PREFIX/$f" ] || { log "missing $PREFIX/$f"; return 1; }
    done
    if command -v objdump >/dev/null 2>&1; then
        objdump -T "$PREFIX/lib/libssl.so.1.1" \
            | grep -E 'OPENSSL_1_1_0[[:space:]]+SSL_CTX_sess_set_new_cb$' >/dev/null \
            || { log "libssl.so.1.1 does not export SSL_CTX_sess_set_new_cb@OPENSSL_1_1_0"; return 1; }
    else
        log "warning: objdump not found (binutils), symbol version check skipped"
    fi
}

mkdir -p "$TARGET"

# Serialise concurrent invocations (e.g. parallel make).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$TARGET/.openssl-$VERSION.lock"
    flock 9
fi

if [ "${OPENSSL111_FORCE:-0}" != 1 ] && [ -e "$PREFIX/lib/libssl.so.1.1" ] && [ -f "$STAMP" ] \
    && [ "$(cat "$STAMP")" = "$STAMP_TEXT" ]; then
    if verify; then
        exit 0
    fi
    log "existing install is broken, rebuilding"
fi

command -v cargo >/dev/null 2>&1 || die "cargo not found (install the Rust toolchain, e.g. via rustup)"
command -v perl >/dev/null 2>&1 || die "perl not found (needed by OpenSSL's Configure; apt-get install perl)"
command -v make >/dev/null 2>&1 || die "make not found"
command -v cc >/dev/null 2>&1 || die "cc not found (apt-get install gcc)"
# Prefer Debian's python3 (a pyenv/venv shim on PATH may be broken or absent).
if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON="$(command -v python3 || true)"; fi
[ -n "$PYTHON" ] || die "python3 not found (apt-get install python3)"

start=$SECONDS
log "building OpenSSL $VERSION (shared) into $PREFIX; log: $LOG"
: >"$LOG"

fail() {
    log "FAILED: $*"
    log "last lines of $LOG:"
    tail -n 40 "$LOG" >&2 || true
    exit 1
}

# 1. Fetch the source through cargo and locate the openssl-src package dir.
cargo fetch --locked --manifest-path "$MANIFEST" >>"$LOG" 2>&1 || fail "cargo fetch"
SRC_PKG="$(cargo metadata --format-version 1 --locked --manifest-path "$MANIFEST" 2>>"$LOG" \
    | "$PYTHON" -c '
import json, os, sys
want = sys.argv[1]
d = json.load(sys.stdin)
for p in d["packages"]:
    if p["name"] == "openssl-src" and p["version"] == want:
        print(os.path.dirname(p["manifest_path"]))
        break
' "$CRATE_VERSION")" || fail "cargo metadata"
[ -n "$SRC_PKG" ] || fail "openssl-src $CRATE_VERSION not found in cargo metadata"
SRC="$SRC_PKG/openssl"
grep -q "OpenSSL $VERSION " "$SRC/include/openssl/opensslv.h" 2>/dev/null \
    || fail "$SRC does not look like OpenSSL $VERSION sources"
log "source: $SRC"

# 2. Private, writable copy of the source tree (the registry copy stays pristine).
rm -rf "$BUILD"
cp -R "$SRC" "$BUILD"
chmod -R u+w "$BUILD"

# 3. Configure, build, install.  Keep the environment of a calling make / user
#    (jobserver, command-line overrides, CFLAGS for sanitizers...) out of it.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS \
      CC CXX CFLAGS CXXFLAGS CPPFLAGS LDFLAGS LDLIBS AR RANLIB CROSS_COMPILE \
      OPENSSL_CONF OPENSSL_ENGINES
JOBS="$(nproc 2>/dev/null || echo 2)"

rm -rf "$PREFIX"
(
    cd "$BUILD"
    echo "+ ./config ${CONFIG_ARGS[*]}"
    ./config "${CONFIG_ARGS[@]}"
) >>"$LOG" 2>&1 || fail "config"
( cd "$BUILD" && echo "+ make -j$JOBS" && make -j"$JOBS" ) >>"$LOG" 2>&1 || fail "make"
( cd "$BUILD" && echo "+ make install_sw install_ssldirs" && make install_sw install_ssldirs ) >>"$LOG" 2>&1 \
    || fail "make install"

verify || fail "verification of the installed OpenSSL"
printf '%s\n' "$STAMP_TEXT" >"$STAMP"
log "done in $((SECONDS - start))s: $("$PREFIX/bin/openssl" version)"
