#!/usr/bin/env bash
# performance.sh [SCENARIO...] -- the runs behind the README's Performance section, each one
# benches/load.py call with basehttp and its peers side by side (all scenarios by default, in
# this order; every table has the peak RSS and the CPU use of each server):
#
#   small      GET /small.html (1 KiB), keep-alive (vs lighttpd)
#   small-close  the same, a connection per request (`Connection: close`), as HTTP/1.0 clients
#              and the command's default `--protocol HTTP/1.0` have it (vs lighttpd)
#   medium     GET /medium.bin (100 KiB), keep-alive (vs lighttpd)
#   listing    GET /many/ (a listing of 1000 files), keep-alive; also with --memory-cache 0, which
#              reads the directory for every listing as Python does
#   subclass   GET /small.html through a handler that falls through to StaticFiles, and without it
#   large      GET /large.bin (64 MiB), wrk -c32 keep-alive
#   large-curl GET /large.bin (64 MiB) by one client that reads in large chunks: sequential
#              curl downloads for max(SECS, 6) s a round, MiB/s (vs lighttpd)
#   (medium, large and large-curl also run basehttp --sendfile; small and medium basehttp
#   --memory-cache-valid 1, which trusts a kept file for a second as lighttpd does; small also
#   `bench_anchors memory-file`, bare hyper answering with the same response from memory)
#   cgi        GET /cgi-bin/hello.sh and /cgi-bin/hello.py, keep-alive; then one request at a
#              time, 100 ms apart, each on a new connection (benches/paced.py: milliseconds)
#   handler    GET /hello from a handler, keep-alive and a connection per request
#   tls        benches/tls_h2.sh: HTTPS (h1.1, h2 by ALPN) and h2c with h2load, ROUNDS rounds
#
# Needs wrk, curl, nginx, lighttpd and h2load (apt-get install -y wrk curl nginx lighttpd
# nghttp2-client); builds basehttp and the benchmark examples first. Set ROUNDS and SECS to
# trade time for spread (defaults 5 and 4; the whole set takes about 28 minutes on 2 cores:
# 2-4 minutes each for small, small-close, medium, listing, large, large-curl, cgi and handler,
# 1 for subclass, 2 for tls).
#
# FRESH=1 starts every server again before each of its rounds (`load.py --fresh`), so that the
# rounds also sample how much one process of a build differs from the next (all but tls, whose
# benches/tls_h2.sh starts each server once).
#
# BEFORE=/path/to/an/older/basehttp adds that binary as `basehttp-before` (same flags as
# basehttp-q) to the file, listing and CGI scenarios, for before/after tables from one run (with
# --memory-cache-valid and --sendfile too, if it has them); BEFORE_HELLO=/path/to/an/older
# bench_hello example adds `basehttp-handler-before` to the handler scenario:
#
#   git worktree add /tmp/before <commit> && (cd /tmp/before && cargo build --release --bin basehttp)
#   BEFORE=/tmp/before/target/release/basehttp benches/performance.sh small medium
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# The command on its own, as `cargo install` or `cargo run --release` builds it: built together
# with the examples, it would get their dev-dependencies' features (`tracing`'s `log`, which
# costs about 200 instructions per request).
cargo build --release --quiet -p basehttp-cli
cargo build --release --quiet --example bench_hello --example bench_anchors
R=${ROUNDS:-5} D=${SECS:-4}
LOAD=(benches/load.py -r "$R" -d "$D")
# FRESH=1: a new process of every server for each round (load.py --fresh).
[ -z "${FRESH:-}" ] || LOAD+=(--fresh)
B='{RELEASE}/basehttp {PORT} --bind 127.0.0.1 --directory {DIR}'
PY='python3 -m http.server {PORT} --bind 127.0.0.1 --directory {DIR}'
NGINX='nginx={ROOT}/benches/servers/nginx.sh {PORT} {DIR}'
LIGHTTPD='lighttpd={ROOT}/benches/servers/lighttpd.sh {PORT} {DIR}'
SERVEDIR='servedir={RELEASE}/examples/bench_anchors {PORT} servedir {DIR}'
MEMORY_FILE='hyper-memory-file={RELEASE}/examples/bench_anchors {PORT} memory-file {DIR}/small.html'
# The older binary's -s arguments, if any.
BEFORE_Q=() BEFORE_VALID=() BEFORE_CGI=() BEFORE_SENDFILE=() BEFORE_HANDLER=()
if [ -n "${BEFORE:-}" ]; then
    BEFORE_Q=(-s "basehttp-before=$BEFORE {PORT} --bind 127.0.0.1 --directory {DIR} --protocol HTTP/1.1 -q")
    BEFORE_CGI=(-s "basehttp-cgi-before=$BEFORE {PORT} --bind 127.0.0.1 --directory {DIR} --protocol HTTP/1.1 --cgi -q")
    # The memory cache's validity window and sendfile, if the older binary has them.
    before_help=$("$BEFORE" --help 2>&1 || true)
    if [[ $before_help == *--memory-cache-valid* ]]; then
        BEFORE_VALID=(-s "basehttp-before-valid-1s=$BEFORE {PORT} --bind 127.0.0.1 --directory {DIR} --protocol HTTP/1.1 -q --memory-cache-valid 1")
    fi
    if [[ $before_help == *--sendfile* ]]; then
        BEFORE_SENDFILE=(-s "basehttp-before-sendfile=$BEFORE {PORT} --bind 127.0.0.1 --directory {DIR} --protocol HTTP/1.1 -q --sendfile")
    fi
fi
if [ -n "${BEFORE_HELLO:-}" ]; then
    BEFORE_HANDLER=(-s "basehttp-handler-before=$BEFORE_HELLO {PORT} handler")
fi

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(small small-close medium listing subclass large large-curl cgi handler tls)
# The ratios depend on the machine (how much of a request is the kernel's), not only the code:
# say which machine and which code each run is.
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")
dirty=""
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null || true)" ] || dirty=", with changes"
echo "# $(uname -sr), ${cpu:-unknown CPU}, $(nproc) CPUs; commit $commit$dirty; ROUNDS=$R SECS=$D${FRESH:+ FRESH=1}"
for s in "${scenarios[@]}"; do
    echo "## $s"
    case $s in
    small)
        "${LOAD[@]}" -u /small.html -c 32 -m ka -b lighttpd \
            -s "basehttp-q=$B --protocol HTTP/1.1 -q" \
            -s "basehttp-valid-1s=$B --protocol HTTP/1.1 -q --memory-cache-valid 1" \
            "${BEFORE_Q[@]}" "${BEFORE_VALID[@]}" \
            -s "basehttp=$B --protocol HTTP/1.1" \
            -s "$NGINX" -s "$LIGHTTPD" -s "$SERVEDIR" -s "$MEMORY_FILE" -s "python=$PY" ;;
    small-close)
        "${LOAD[@]}" -u /small.html -c 32 -m close -b lighttpd \
            -s "basehttp-q=$B --protocol HTTP/1.1 -q" \
            "${BEFORE_Q[@]}" \
            -s "$NGINX" -s "$LIGHTTPD" -s "$SERVEDIR" -s "python=$PY" ;;
    medium)
        "${LOAD[@]}" -u /medium.bin -c 32 -m ka -b lighttpd \
            -s "basehttp-q=$B --protocol HTTP/1.1 -q" \
            -s "basehttp-valid-1s=$B --protocol HTTP/1.1 -q --memory-cache-valid 1" \
            -s "basehttp-sendfile=$B --protocol HTTP/1.1 -q --sendfile" \
            "${BEFORE_Q[@]}" "${BEFORE_VALID[@]}" "${BEFORE_SENDFILE[@]}" \
            -s "$NGINX" -s "$LIGHTTPD" -s "$SERVEDIR" ;;
    listing) # ServeDir has no listings
        "${LOAD[@]}" -u /many/ -c 32 -m ka -b nginx \
            -s "basehttp-q=$B --protocol HTTP/1.1 -q" \
            -s "basehttp-q-memory-cache-0=$B --protocol HTTP/1.1 -q --memory-cache 0" \
            "${BEFORE_Q[@]}" \
            -s "$NGINX" -s "$LIGHTTPD" -s "python=$PY" ;;
    subclass)
        "${LOAD[@]}" -u /small.html -c 32 -m ka -b static-files \
            -s 'static-files={RELEASE}/examples/bench_hello {PORT} static-files {DIR}' \
            -s 'handler-over-files={RELEASE}/examples/bench_hello {PORT} files {DIR}' ;;
    large)
        "${LOAD[@]}" -u /large.bin -c 32 -m ka -T 30 -b nginx \
            -s "basehttp-q=$B --protocol HTTP/1.1 -q" \
            -s "basehttp-sendfile=$B --protocol HTTP/1.1 -q --sendfile" \
            "${BEFORE_Q[@]}" \
            -s "$NGINX" -s "$LIGHTTPD" -s "$SERVEDIR" ;;
    large-curl) # at least 6 s a round, so that every server gets several downloads
        "${LOAD[@]}" -u /large.bin -m curl -d "$((D > 6 ? D : 6))" -T 30 -b lighttpd \
            -s "basehttp-q=$B --protocol HTTP/1.1 -q" \
            -s "basehttp-sendfile=$B --protocol HTTP/1.1 -q --sendfile" \
            "${BEFORE_Q[@]}" \
            -s "$NGINX" -s "$LIGHTTPD" -s "$SERVEDIR" -s "python=$PY" ;;
    cgi)
        "${LOAD[@]}" -u /cgi-bin/hello.sh -u /cgi-bin/hello.py -c 32 -m ka -T 10 -b lighttpd \
            -s "basehttp-cgi-q=$B --protocol HTTP/1.1 --cgi -q" \
            "${BEFORE_CGI[@]}" \
            -s "basehttp-cgi=$B --protocol HTTP/1.1 --cgi" \
            -s "$LIGHTTPD" -s "python-cgi=$PY --cgi"
        # What one person clicking sees: one request at a time, the machine idle between; as
        # root also without the per-script cgroups (benches/servers/no-cgroup.sh).
        NO_CGROUP=()
        [ "$(id -u)" != 0 ] || NO_CGROUP=(-s "basehttp-cgi-q-no-cgroup={ROOT}/benches/servers/no-cgroup.sh $B --protocol HTTP/1.1 --cgi -q")
        benches/paced.py -n 40 -u /cgi-bin/hello.sh -u /cgi-bin/hello.py -b lighttpd \
            -s "basehttp-cgi-q=$B --protocol HTTP/1.1 --cgi -q" "${BEFORE_CGI[@]}" "${NO_CGROUP[@]}" \
            -s "$LIGHTTPD" -s "python-cgi=$PY --cgi" ;;
    handler)
        "${LOAD[@]}" -u /hello -c 32 -m ka,close -b hello-hyper \
            -s 'basehttp-handler={RELEASE}/examples/bench_hello {PORT} handler' \
            "${BEFORE_HANDLER[@]}" \
            -s 'basehttp-logged={RELEASE}/examples/bench_hello {PORT} logged' \
            -s 'basehttp-bare={RELEASE}/examples/bench_hello {PORT} hyper' \
            -s 'basehttp-bare-python={RELEASE}/examples/bench_hello {PORT} hyper-python' \
            -s 'hello-hyper={RELEASE}/examples/bench_anchors {PORT} hello' \
            -s 'hello-hyper-python={RELEASE}/examples/bench_anchors {PORT} hello-python' \
            -s 'python-1.1=python3 {ROOT}/benches/servers/py_hello.py {PORT} HTTP/1.1' ;;
    tls)
        ROUNDS="$R" benches/tls_h2.sh ;;
    *)
        echo "unknown scenario $s: small, small-close, medium, listing, subclass, large, large-curl, cgi," \
            "handler or tls" >&2
        exit 2 ;;
    esac
done
