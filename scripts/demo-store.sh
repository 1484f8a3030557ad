#!/usr/bin/env bash
# `make demo`, part 2: the shared session store. Two independent
# `openssl s_server` processes (no -ext_cache: they set no callbacks, so
# sesscb provides the cache) on two ports. A client makes sessions on A and
# offers them to B: first with sesscb preloaded but the store off, then with
# SESSCB_STORE=local and a keyring made by `sesscb keygen`. TLS 1.2 session
# ids and TLS 1.3 stateful tickets. Then `sesscb stats`. Loopback only,
# ports chosen by the kernel, stops by itself.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB=${SESSCB_LIB:-$ROOT/target/release/libsesscb.so}
SESSCB=${SESSCB_BIN:-$ROOT/target/release/sesscb}
OPENSSL=${OPENSSL:-openssl}
ROUNDS=4
for f in "$LIB" "$SESSCB"; do [ -x "$f" ] || { echo "demo: $f is missing; run 'make lib'" >&2; exit 1; }; done

work=$(mktemp -d "${TMPDIR:-/tmp}/sesscb-store-demo.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
"$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
mkdir -m 700 "$work/store"
"$SESSCB" keygen "$work/keyring" >/dev/null

# Starts one server with the environment in "$@"; prints its port.
start_server() {
    local out="$work/server$((${#pids[@]})).out"
    env "$@" LD_PRELOAD="$LIB" "$OPENSSL" s_server -accept 127.0.0.1:0 -cert "$work/cert.pem" \
        -key "$work/key.pem" -no_ticket -www >"$out" 2>"$out.err" &
    pids+=($!)
    for _ in $(seq 100); do
        port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$out")
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    echo "demo: s_server did not start" >&2; cat "$out" "$out.err" >&2; exit 1
}

# connect PORT TLSFLAG SESSIONFILE in|out: prints New or Reused.
connect() {
    local dir=-sess_out
    [ "$4" = in ] && dir=-sess_in
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 20 "$OPENSSL" s_client -connect "127.0.0.1:$1" \
        -servername localhost "$2" -ign_eof "$dir" "$3" 2>/dev/null | sed -n 's/^\(New\|Reused\), TLS.*/\1/p' | sed -n 1p
}

# round LABEL ENV...: two servers, ROUNDS sessions per TLS version from A to B.
round() {
    local label=$1; shift
    pids=()
    start_server "$@"; local a=$port
    start_server "$@"; local b=$port
    for v in -tls1_2 -tls1_3; do
        local resumed=0
        for i in $(seq "$ROUNDS"); do
            connect "$a" "$v" "$work/s$v$i.pem" out >/dev/null
            [ "$(connect "$b" "$v" "$work/s$v$i.pem" in)" = Reused ] && resumed=$((resumed + 1))
        done
        printf '  %-34s %-8s %d of %d\n' "$label" "${v#-}" "$resumed" "$ROUNDS"
        echo "$resumed" >>"$work/$label.count"
    done
    # s_server dies of SIGTERM without running exit handlers: give the
    # store threads one fold (SESSCB_METRICS_INTERVAL_MS below) first.
    sleep 1
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    pids=()
}

echo "== Shared session store: a session made on server A, offered to server B"
echo "   (two separate s_server processes, no -ext_cache; sesscb preloaded into both)"
round "store off" SESSCB_STORE=off
round "SESSCB_STORE=local + keyring" SESSCB_STORE=local SESSCB_STORE_DIR="$work/store" \
    SESSCB_STORE_DOMAIN=demo SESSCB_STORE_KEYRING="$work/keyring" SESSCB_METRICS_INTERVAL_MS=300
echo
echo "== sesscb stats --domain demo"
"$SESSCB" stats --dir "$work/store" --domain demo | sed 's/^/  /'
off=$(( $(paste -sd+ "$work/store off.count") ))
on=$(( $(paste -sd+ "$work/SESSCB_STORE=local + keyring.count") ))
if [ "$off" -ne 0 ] || [ "$on" -ne $((2 * ROUNDS)) ]; then
    echo "demo: expected 0 resumed without the store and $((2 * ROUNDS)) with it (got $off, $on)" >&2
    exit 1
fi
