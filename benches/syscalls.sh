#!/usr/bin/env bash
# syscalls.sh [PATH] -- the system calls a server makes per request, counted by `strace -f -c`
# while one client sends N requests one after the other (default 2,000), each on a connection
# of its own (MODE=close, the default: what HTTP/1.0 clients and the command's default
# `--protocol HTTP/1.0` do) or all on one kept-alive connection (MODE=ka). One client at a time,
# so a server waits for each request as it does when it is not saturated. Server pinned to
# CPU 0, the client to CPU 1 (where there are two), 127.0.0.1 only.
#
#   apt-get install -y strace python3 lighttpd nginx
#   benches/syscalls.sh                           # GET /small.html: basehttp, lighttpd, nginx
#   BEFORE=/path/to/an/older/basehttp benches/syscalls.sh   # and that binary beside it
#   MODE=ka N=5000 benches/syscalls.sh /hello.txt
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
command -v strace >/dev/null || { echo "strace is missing (apt-get install strace)" >&2; exit 2; }
DIR=$(benches/fixtures.sh)
URL=${1:-/small.html} N=${N:-2000} MODE=${MODE:-close}
[ "$MODE" = close ] || [ "$MODE" = ka ] || { echo "MODE is close or ka" >&2; exit 2; }
cargo build --release --quiet -p basehttp-cli
CPU_SERVER=0 CPU_CLIENT=0
[ "$(nproc)" -ge 2 ] && CPU_CLIENT=1
# shellcheck source=benches/start-server.sh
. benches/start-server.sh

# Sends N GETs of URL one after the other, each on a new connection (close) or all on one (ka).
client() {
    taskset -c "$CPU_CLIENT" python3 benches/requests.py "$1" "$URL" "$2" "$MODE"
}

# NAME COMMAND ({PORT} and {DIR} in COMMAND are filled in): the calls per request, by name.
measure() {
    local name=$1 command=$2 port out pid
    start_server "$name" "$command"
    pid=$SERVER_PID port=$SERVER_PORT
    out=$(mktemp)
    client "$port" 200 # warm up: the file in the memory cache, the worker threads started
    # The server's own process: the wrapper scripts exec it, nginx's master forks one worker.
    local target=$pid
    if [ "$name" = nginx ]; then
        target=$(pgrep -P "$pid" | head -1)
    fi
    strace -f -c -o "$out" -p "$target" 2>"$out.log" &
    local tracer=$!
    # The counted requests start once strace says it is attached (it does on stderr).
    for _ in $(seq 100); do
        grep -q attached "$out.log" && break
        sleep 0.05
    done
    grep -q attached "$out.log" || { echo "strace did not attach to $name" >&2; exit 1; }
    client "$port" "$N"
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    awk -v name="$name" -v n="$N" '
        $NF == "total" { total = $4 }
        NF >= 5 && $1 ~ /^[0-9.]+$/ && $NF != "total" && $4 / n >= 0.05 {
            calls = calls sprintf(" %s %.2f,", $NF, $4 / n)
        }
        END { printf "%-16s %6.2f per request:%s\n", name, total / n, calls }' "$out"
    rm -f "$out" "$out.log"
}

echo "GET $URL, $N requests, $([ "$MODE" = close ] && echo 'a connection each' || echo 'one connection')"
B="--bind 127.0.0.1 --directory {DIR} --protocol HTTP/1.1 -q"
measure basehttp "target/release/basehttp {PORT} $B"
if [ -n "${BEFORE:-}" ]; then
    measure basehttp-before "$BEFORE {PORT} $B"
fi
command -v lighttpd >/dev/null && measure lighttpd "benches/servers/lighttpd.sh {PORT} {DIR}"
command -v nginx >/dev/null && measure nginx "benches/servers/nginx.sh {PORT} {DIR}"
exit 0
