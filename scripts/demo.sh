#!/usr/bin/env bash
# `make demo`: sesscb preloaded into an unmodified `openssl s_server -ext_cache`
# (an external session cache driven by the three callbacks), with the event
# trace on. TLS 1.2 session-id resumption via `s_client -reconnect`, then
# TLS 1.3 stateful tickets via -sess_out/-sess_in with a request on each
# connection. Loopback only, a port chosen by the kernel, stops by itself.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB=${SESSCB_LIB:-$ROOT/target/release/libsesscb.so}
OPENSSL=${OPENSSL:-openssl}
[ -f "$LIB" ] || { echo "demo: $LIB is missing; run 'make lib'" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sesscb-demo.XXXXXX")
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

"$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# Starts the server; sets server_pid and port. $1 = protocol flag.
start_server() {
    : > "$work/trace.jsonl"
    SESSCB_LOG=stderr LD_PRELOAD="$LIB" \
        "$OPENSSL" s_server -accept 127.0.0.1:0 -cert "$work/cert.pem" -key "$work/key.pem" \
        -ext_cache -no_ticket -www "$1" >"$work/server.out" 2>"$work/trace.jsonl" &
    server_pid=$!
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$work/server.out")
        [ -n "$port" ] && return 0
        sleep 0.1
    done
    echo "demo: s_server did not start" >&2
    cat "$work/server.out" "$work/trace.jsonl" >&2
    exit 1
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

show_trace() {
    echo "--- server stderr: sesscb JSON trace lines (SESSCB_LOG=stderr) and s_server's own messages ---"
    sed 's/^/  /' "$work/trace.jsonl"
    local new get hit remove
    new=$(grep -c '"event":"new"' "$work/trace.jsonl" || true)
    get=$(grep -c '"event":"get"' "$work/trace.jsonl" || true)
    hit=$(grep -c '"hit":true' "$work/trace.jsonl" || true)
    remove=$(grep -c '"event":"remove"' "$work/trace.jsonl" || true)
    echo "--- events: new=$new get=$get (hits=$hit) remove=$remove"
}

request() { printf 'GET / HTTP/1.0\r\n\r\n'; }

echo "== TLS 1.2, session ids (s_client -reconnect: 1 full handshake + 5 reconnects)"
start_server -tls1_2
request | timeout 20 "$OPENSSL" s_client -connect "127.0.0.1:$port" -servername localhost \
    -tls1_2 -reconnect -no_ticket >"$work/c12.out" 2>&1 </dev/null || true
stop_server
show_trace
t12_total=$(grep -cE '^(New|Reused),' "$work/c12.out" || true)
t12_reused=$(grep -c '^Reused,' "$work/c12.out" || true)

echo
echo "== TLS 1.3, stateful tickets (-sess_out / -sess_in, a request on each connection)"
start_server -tls1_3
t13_total=0
t13_reused=0
for i in 1 2 3 4; do
    sess_in=()
    [ "$i" -gt 1 ] && sess_in=(-sess_in "$work/session.pem")
    request | timeout 20 "$OPENSSL" s_client -connect "127.0.0.1:$port" -servername localhost \
        -tls1_3 -ign_eof "${sess_in[@]}" -sess_out "$work/session.pem" >"$work/c13.out" 2>&1 || true
    t13_total=$((t13_total + 1))
    grep -q '^Reused,' "$work/c13.out" && t13_reused=$((t13_reused + 1))
done
stop_server
show_trace

echo
echo "== Result"
echo "TLS 1.2: $t12_reused of $t12_total connections resumed"
echo "TLS 1.3: $t13_reused of $t13_total connections resumed"
if [ "$t12_reused" -lt 1 ] || [ "$t13_reused" -lt 1 ]; then
    echo "demo: expected resumptions did not happen" >&2
    exit 1
fi
