#!/usr/bin/env bash
# HTTPS and HTTP/2 side by side, with h2load (apt-get install nghttp2-client nginx):
#
#   basehttp   target/release/basehttp -p HTTP/1.1 -q --tls-cert … (h2 by ALPN, h2c by prior knowledge)
#   nginx      1 worker, access log off, the same certificate (`listen … ssl http2`)
#   python     CPython 3.14's http.server --tls-cert … -p HTTP/1.1, when tests/python/cpython314.sh
#              has put it in target/cpython314 and a Python 3.13+ is there (BASEHTTP_PYTHON313)
#
# Every server is pinned to CPU 1 and h2load to CPU 0; rounds interleave the servers. Prints the
# median req/s per (scenario, server) and the ratio to nginx.
#
# Usage: benches/tls_h2.sh [DIR]   (DIR gets benches/fixtures.sh's files; default target/bench-root)
#        N=200000 C=32 ROUNDS=5 URL=/small.html benches/tls_h2.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$("$ROOT/benches/fixtures.sh" ${1:+"$1"})
TLS=$ROOT/tests/fixtures/tls
BIN=${BASEHTTP:-$ROOT/target/release/basehttp}
CPYTHON314=${CARGO_TARGET_DIR:-$ROOT/target}/cpython314
PY313=${BASEHTTP_PYTHON313:-}
if [ -z "$PY313" ]; then
    for python in python3.14 python3.13 "$HOME"/.pyenv/versions/3.1[34]*/bin/python3.1[34]; do
        if "$python" -c 'import mimetypes; mimetypes.guess_file_type' >/dev/null 2>&1; then
            PY313=$python
            break
        fi
    done
fi
N=${N:-200000} C=${C:-32} ROUNDS=${ROUNDS:-5} URL=${URL:-/small.html}
PY_N=${PY_N:-2000}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

[ -f "$DIR$URL" ] || { echo "no $DIR$URL" >&2; exit 2; }

cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $tmp/nginx-error.log;
pid $tmp/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    server { listen 127.0.0.1:18443 ssl http2; ssl_certificate $TLS/cert.pem; ssl_certificate_key $TLS/key.pem; root $DIR; }
    server { listen 127.0.0.1:18080 http2; root $DIR; }
}
CONF

start() { taskset -c 1 "$@" >/dev/null 2>&1 & pids+=($!); }
start "$BIN" 18444 -b 127.0.0.1 -d "$DIR" -p HTTP/1.1 -q --tls-cert "$TLS/cert.pem" --tls-key "$TLS/key.pem"
start "$BIN" 18081 -b 127.0.0.1 -d "$DIR" -p HTTP/1.1 -q
start nginx -c "$tmp/nginx.conf"
have_python=0
if [ -n "$PY313" ] && [ -f "$CPYTHON314/http/server.py" ]; then
    # tests/python/run.py cli: `python -m http.server` from target/cpython314 (3.14's on 3.13).
    start env BASEHTTP_CPYTHON_LIB="$CPYTHON314" "$PY313" "$ROOT/tests/python/run.py" cli 18445 -b 127.0.0.1 -d "$DIR" -p HTTP/1.1 --tls-cert "$TLS/cert.pem" --tls-key "$TLS/key.pem"
    have_python=1
fi
for port in 18444 18081 18443 18080 $([ $have_python = 1 ] && echo 18445); do
    for _ in $(seq 100); do
        curl -sk -o /dev/null "https://127.0.0.1:$port$URL" 2>/dev/null && break
        curl -s -o /dev/null --http2-prior-knowledge "http://127.0.0.1:$port$URL" 2>/dev/null && break
        sleep 0.1
    done
done

# scenario|server|h2load arguments
runs=(
    "https h1.1|basehttp|--h1 https://127.0.0.1:18444$URL"
    "https h1.1|nginx|--h1 https://127.0.0.1:18443$URL"
    "https h2 (ALPN)|basehttp|-m 10 https://127.0.0.1:18444$URL"
    "https h2 (ALPN)|nginx|-m 10 https://127.0.0.1:18443$URL"
    "h2c prior knowledge|basehttp|-m 10 http://127.0.0.1:18081$URL"
    "h2c prior knowledge|nginx|-m 10 http://127.0.0.1:18080$URL"
)
[ $have_python = 1 ] && runs+=("https h1.1|python 3.14|--h1 https://127.0.0.1:18445$URL")

declare -A results
for round in $(seq "$ROUNDS"); do
    for run in "${runs[@]}"; do
        IFS='|' read -r scenario server args <<<"$run"
        n=$N; [ "$server" = "python 3.14" ] && n=$PY_N
        # shellcheck disable=SC2086
        rps=$(taskset -c 0 h2load -t 1 -c "$C" -n "$n" $args 2>/dev/null |
              awk '/^finished in/ {gsub(",", "", $4); print $4}')
        results["$scenario|$server"]+="${rps:-0} "
        echo "round $round: $scenario, $server: ${rps:-failed} req/s" >&2
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "| scenario | server | median req/s | vs nginx |"
echo "|---|---|---|---|"
for run in "${runs[@]}"; do
    IFS='|' read -r scenario server _ <<<"$run"
    m=$(echo "${results[$scenario|$server]}" | median)
    base=$(echo "${results[$scenario|nginx]}" | median)
    ratio=$(awk -v a="$m" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $scenario | $server | ${m%.*} | ${ratio}× |"
done
