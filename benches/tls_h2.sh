#!/usr/bin/env bash
# HTTPS and HTTP/2 side by side, with h2load (apt-get install nghttp2-client nginx openssl):
#
#   basehttp   target/release/basehttp -p HTTP/1.1 -q --tls-cert … (h2 by ALPN, h2c by prior knowledge)
#   nginx      1 worker, access log off, the same certificate (`listen … ssl http2`), TLS 1.2
#              and 1.3 (nginx before 1.23.4 offers only up to 1.2 unless told)
#   python     CPython 3.14's http.server --tls-cert … -p HTTP/1.1, when tests/python/cpython314.sh
#              has put it in target/cpython314 and a `python3.14` or `python3.13` is on PATH
#              (or BASEHTTP_PYTHON313=/path/to/python)
#
# The certificate is made here with openssl (self-signed EC P-256 for 127.0.0.1 and localhost)
# in a temporary directory, with nginx's configuration and logs; all of it is removed at the
# end. Traffic goes to 127.0.0.1 only (ports 18080, 18081, 18443-18445); every h2load run is
# bounded (600 s). Every server must answer URL with 200 before anything is measured. Every
# server is pinned to CPU 1 and h2load (and openssl s_time) to CPU 0; ROUNDS rounds interleave
# the servers. Prints the median req/s per (scenario, server), the ratio to nginx, and the TLS
# version and cipher negotiated (as h2load, or for s_time as openssl s_client, reports them).
#
# Usage: benches/tls_h2.sh [DIR]   (DIR gets benches/fixtures.sh's files; default target/bench-root)
#        N=200000 C=32 ROUNDS=5 URL=/small.html benches/tls_h2.sh
#   N         requests per h2load run (default 200000; PY_N, default 2000, for Python)
#   C         h2load clients (default 32)
#   ROUNDS    rounds (default 5)
#   URL       the path requested (default /small.html)
#   HS_SECS   seconds of each `openssl s_time` run (default 4): one client making a new
#             connection (a full handshake, or a resumed session: `-new`, `-reuse`) for each
#             GET of URL, the HTTP/1.1 server's side of a browser without keep-alive
#   BASEHTTP  the basehttp binary (default target/release/basehttp, under CARGO_TARGET_DIR if set)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$("$ROOT/benches/fixtures.sh" ${1:+"$1"})
for tool in h2load nginx openssl curl taskset timeout; do
    command -v "$tool" >/dev/null || { echo "tls_h2.sh needs $tool" >&2; exit 2; }
done
BIN=${BASEHTTP:-${CARGO_TARGET_DIR:-$ROOT/target}/release/basehttp}
[ -x "$BIN" ] || { echo "no $BIN (cargo build --release)" >&2; exit 2; }
CPYTHON314=${CARGO_TARGET_DIR:-$ROOT/target}/cpython314
PY313=${BASEHTTP_PYTHON313:-}
if [ -z "$PY313" ]; then
    for python in python3.14 python3.13; do
        if "$python" -c 'import mimetypes; mimetypes.guess_file_type' >/dev/null 2>&1; then
            PY313=$python
            break
        fi
    done
fi
N=${N:-200000} C=${C:-32} ROUNDS=${ROUNDS:-5} URL=${URL:-/small.html} HS_SECS=${HS_SECS:-4}
PY_N=${PY_N:-2000}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

[ -f "$DIR$URL" ] || { echo "no $DIR$URL" >&2; exit 2; }

# The certificate for every HTTPS server, made for this run.
TLS=$tmp/tls
mkdir "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$TLS/key.pem" -out "$TLS/cert.pem" 2>/dev/null

# nginx's prefix, logs and temporary files in $tmp, so nothing outside is needed or written.
user=""
[ "$(id -u)" = 0 ] && user="user root;"
mkdir "$tmp/nginx"
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
$user
error_log $tmp/nginx-error.log;
pid $tmp/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    sendfile on;
    server { listen 127.0.0.1:18443 ssl http2; ssl_protocols TLSv1.2 TLSv1.3; ssl_certificate $TLS/cert.pem; ssl_certificate_key $TLS/key.pem; root $DIR; }
    server { listen 127.0.0.1:18080 http2; root $DIR; }
}
CONF

start() { taskset -c 1 "$@" >/dev/null 2>&1 & pids+=($!); }
start "$BIN" 18444 -b 127.0.0.1 -d "$DIR" -p HTTP/1.1 -q --tls-cert "$TLS/cert.pem" --tls-key "$TLS/key.pem"
start "$BIN" 18081 -b 127.0.0.1 -d "$DIR" -p HTTP/1.1 -q
start nginx -p "$tmp/nginx/" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf"
have_python=0
if [ -n "$PY313" ] && [ -f "$CPYTHON314/http/server.py" ]; then
    # tests/python/run.py cli: `python -m http.server` from target/cpython314 (3.14's on 3.13).
    start env BASEHTTP_CPYTHON_LIB="$CPYTHON314" "$PY313" "$ROOT/tests/python/run.py" cli 18445 -b 127.0.0.1 -d "$DIR" -p HTTP/1.1 --tls-cert "$TLS/cert.pem" --tls-key "$TLS/key.pem"
    have_python=1
fi
for port in 18444 18081 18443 18080 $([ $have_python = 1 ] && echo 18445); do
    status=none
    for _ in $(seq 100); do
        status=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 10 "https://127.0.0.1:$port$URL" 2>/dev/null) && break
        status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --http2-prior-knowledge "http://127.0.0.1:$port$URL" 2>/dev/null) && break
        status=none
        sleep 0.1
    done
    [ "$status" = 200 ] || { echo "127.0.0.1:$port answers $URL with $status, not 200" >&2; exit 1; }
done

# scenario|server|h2load arguments
runs=(
    "https h1.1|basehttp|--h1 https://127.0.0.1:18444$URL"
    "https h1.1|nginx|--h1 https://127.0.0.1:18443$URL"
    "https h2 (ALPN)|basehttp|-m 10 https://127.0.0.1:18444$URL"
    "https h2 (ALPN)|nginx|-m 10 https://127.0.0.1:18443$URL"
    "h2c prior knowledge|basehttp|-m 10 http://127.0.0.1:18081$URL"
    "h2c prior knowledge|nginx|-m 10 http://127.0.0.1:18080$URL"
    "https, a connection a request, full handshakes|basehttp|s_time new 18444"
    "https, a connection a request, full handshakes|nginx|s_time new 18443"
    "https, a connection a request, resumed sessions|basehttp|s_time reuse 18444"
    "https, a connection a request, resumed sessions|nginx|s_time reuse 18443"
)
[ $have_python = 1 ] && runs+=("https h1.1|python 3.14|--h1 https://127.0.0.1:18445$URL")

declare -A results negotiated
for round in $(seq "$ROUNDS"); do
    for run in "${runs[@]}"; do
        IFS='|' read -r scenario server args <<<"$run"
        n=$N; [ "$server" = "python 3.14" ] && n=$PY_N
        if [ "${args%% *}" = s_time ]; then
            # One client, a connection per request: `s_time MODE PORT`.
            read -r _ mode port <<<"$args"
            start=$(date +%s.%N)
            out=$(taskset -c 0 timeout $((HS_SECS + 60)) openssl s_time -connect "127.0.0.1:$port" \
                "-$mode" -time "$HS_SECS" -www "$URL" 2>/dev/null || true)
            end=$(date +%s.%N)
            rps=$(awk -v s="$start" -v e="$end" '/connections in .* real seconds/ {printf "%.0f", $1 / (e - s)}' <<<"$out")
            results["$scenario|$server"]+="${rps:-0} "
            # What `openssl s_client` (the same library as s_time) negotiates with the server, and
            # how many of s_time's connections resumed a session (`r`) rather than made a new
            # one (`*`): all but the first with -reuse, none with -new.
            tls=$( (echo | timeout 10 openssl s_client -connect "127.0.0.1:$port" 2>/dev/null || true) |
                awk '/^New, / {sub(/,$/, "", $2); print $2 ", " $5; exit}')
            resumed=$(grep -E '^[r*]+$' <<<"$out" | tr -d '\n' | awk '{n = length($0); print gsub(/r/, "") " of " n}' || true)
            negotiated["$scenario|$server"]="${tls:--}; resumed ${resumed:-?}"
            echo "round $round: $scenario, $server: ${rps:-failed} req/s" >&2
            continue
        fi
        # shellcheck disable=SC2086
        out=$(taskset -c 0 timeout 600 h2load -t 1 -c "$C" -n "$n" $args 2>/dev/null || true)
        rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
        results["$scenario|$server"]+="${rps:-0} "
        # What was negotiated, as h2load reports it (TLS only).
        tls=$(awk -F': ' '/^TLS Protocol:/ {p=$2} /^Cipher:/ {c=$2} END {if (p) print p ", " c}' <<<"$out")
        negotiated["$scenario|$server"]=${tls:--}
        echo "round $round: $scenario, $server: ${rps:-failed} req/s" >&2
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "| scenario | server | median req/s | vs nginx | TLS |"
echo "|---|---|---|---|---|"
for run in "${runs[@]}"; do
    IFS='|' read -r scenario server _ <<<"$run"
    m=$(echo "${results[$scenario|$server]}" | median)
    base=$(echo "${results[$scenario|nginx]}" | median)
    ratio=$(awk -v a="$m" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $scenario | $server | ${m%.*} | ${ratio}× | ${negotiated[$scenario|$server]} |"
done
