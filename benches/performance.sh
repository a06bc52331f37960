#!/usr/bin/env bash
# performance.sh [SCENARIO...] -- the runs behind the README's Performance section, each one
# benches/load.py call with basehttp and its peers side by side (all scenarios by default):
#
#   small    GET /small.html (1 KiB), keep-alive
#   listing  GET /many/ (a listing of 1000 files), keep-alive
#   subclass GET /small.html through a handler that falls through to StaticFiles, and without it
#   large    GET /large.bin (64 MiB), keep-alive, with the peak RSS of each server
#   cgi      GET /cgi-bin/hello.sh and /cgi-bin/hello.py, keep-alive
#   handler  GET /hello from a handler, keep-alive and a connection per request
#
# Needs wrk, nginx and lighttpd (apt-get install -y wrk nginx lighttpd); builds basehttp and
# the benchmark examples first. Set ROUNDS and SECS to trade time for spread (defaults 5 and 4;
# the whole set takes about 17 minutes on 2 cores).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
cargo build --release --quiet --bin basehttp --example bench_hello --example bench_anchors
R=${ROUNDS:-5} D=${SECS:-4}
LOAD=(benches/load.py -r "$R" -d "$D")
B='{RELEASE}/basehttp {PORT} --bind 127.0.0.1 --directory {DIR}'
PY='python3 -m http.server {PORT} --bind 127.0.0.1 --directory {DIR}'
NGINX='nginx={ROOT}/benches/servers/nginx.sh {PORT} {DIR}'
LIGHTTPD='lighttpd={ROOT}/benches/servers/lighttpd.sh {PORT} {DIR}'
SERVEDIR='servedir={RELEASE}/examples/bench_anchors {PORT} servedir {DIR}'

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(small listing subclass large cgi handler)
for s in "${scenarios[@]}"; do
    echo "## $s"
    case $s in
    small)
        "${LOAD[@]}" -u /small.html -c 32 -m ka -b nginx \
            -s "basehttp-q=$B --protocol HTTP/1.1 -q" \
            -s "basehttp=$B --protocol HTTP/1.1" \
            -s "$NGINX" -s "$LIGHTTPD" -s "$SERVEDIR" -s "python=$PY" ;;
    listing) # ServeDir has no listings
        "${LOAD[@]}" -u /many/ -c 32 -m ka -b nginx \
            -s "basehttp-q=$B --protocol HTTP/1.1 -q" \
            -s "$NGINX" -s "$LIGHTTPD" -s "python=$PY" ;;
    subclass)
        "${LOAD[@]}" -u /small.html -c 32 -m ka -b static-files \
            -s 'static-files={RELEASE}/examples/bench_hello {PORT} static-files {DIR}' \
            -s 'handler-over-files={RELEASE}/examples/bench_hello {PORT} files {DIR}' ;;
    large)
        "${LOAD[@]}" -u /large.bin -c 32 -m ka -T 30 -b nginx \
            -s "basehttp-q=$B --protocol HTTP/1.1 -q" \
            -s "$NGINX" -s "$LIGHTTPD" -s "$SERVEDIR" ;;
    cgi)
        "${LOAD[@]}" -u /cgi-bin/hello.sh -u /cgi-bin/hello.py -c 32 -m ka -T 10 -b lighttpd \
            -s "basehttp-cgi-q=$B --protocol HTTP/1.1 --cgi -q" \
            -s "basehttp-cgi=$B --protocol HTTP/1.1 --cgi" \
            -s "$LIGHTTPD" -s "python-cgi=$PY --cgi" ;;
    handler)
        "${LOAD[@]}" -u /hello -c 32 -m ka,close -b hello-hyper \
            -s 'basehttp-handler={RELEASE}/examples/bench_hello {PORT} handler' \
            -s 'basehttp-logged={RELEASE}/examples/bench_hello {PORT} logged' \
            -s 'basehttp-bare={RELEASE}/examples/bench_hello {PORT} hyper' \
            -s 'hello-hyper={RELEASE}/examples/bench_anchors {PORT} hello' \
            -s 'python-1.1=python3 {ROOT}/benches/servers/py_hello.py {PORT} HTTP/1.1' ;;
    *)
        echo "unknown scenario $s: small, listing, subclass, large, cgi or handler" >&2
        exit 2 ;;
    esac
done
