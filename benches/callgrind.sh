#!/usr/bin/env bash
# Instructions per keep-alive request, counted by valgrind's callgrind: each server runs twice
# under callgrind, answering 500 and then 2,500 requests on one connection, and the difference
# of the two totals divided by 2,000 is what one request costs, start-up and shutdown excluded.
# Deterministic where throughput is noisy: this is the README's "Counted in instructions".
#
#   apt-get install -y valgrind python3
#   benches/callgrind.sh              # the hello handler, HttpServer + a bare service_fn (with
#                                     # hyper's minimal head, and with the handler's head), bare
#                                     # hyper (the same two heads)
#   benches/callgrind.sh NAME PATH 'COMMAND {PORT}'   # any server answering GET PATH
#
# Per-function counts: `callgrind_annotate target/callgrind/NAME.2500.out` (and `.500.out`).
# With objdump (binutils) each line also gives the locked instructions per request (atomic
# read-modify-writes: `Arc` clones and drops, mutex locks), which callgrind counts as one
# instruction each but cost as much as some 25 (`cargo bench --bench handler -- atomics`);
# by function:
# `benches/locked.py target/callgrind/NAME.500.out target/callgrind/NAME.2500.out`.
# File serving under valgrind takes the blocking path (valgrind does not know `openat2`): measure
# it in process with `cargo bench --bench handler -- files` instead.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install valgrind)" >&2; exit 2; }
OUT=target/callgrind
mkdir -p "$OUT"

# Sends N keep-alive GETs on one connection, reading each response whole.
client() {
    python3 benches/requests.py "$1" "$2" "$3" ka
}

# Total instructions of one run of COMMAND answering N requests.
run() {
    local name=$1 path=$2 command=$3 n=$4
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \
        --callgrind-out-file="$OUT/$name.$n.out" \
        ${command//\{PORT\}/$port} >"$OUT/$name.$n.log" 2>&1 &
    local pid=$!
    local up=""
    for _ in $(seq 150); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null; then
            up=1
            break
        fi
        sleep 0.2
    done
    [ -n "$up" ] || { echo "$name did not start (see $OUT/$name.$n.log)" >&2; kill "$pid"; exit 1; }
    client "$port" "$path" "$n"
    # Ctrl-C for the servers that shut down on it; a script's background job ignores SIGINT
    # otherwise, so a server without a handler gets SIGTERM (callgrind writes its counts either way).
    kill -INT "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
    awk '/^(summary|totals):/ { print $2; exit }' "$OUT/$name.$n.out"
}

measure() {
    local name=$1 path=$2 command=$3
    local small large
    small=$(run "$name" "$path" "$command" 500)
    large=$(run "$name" "$path" "$command" 2500)
    local locked=""
    if command -v objdump >/dev/null; then
        locked=$(python3 benches/locked.py "$OUT/$name.500.out" "$OUT/$name.2500.out" || true)
        locked=${locked%%$'\n'*}
        locked=", ${locked% per request}"
    fi
    printf '%-40s %8d instructions per request%s\n' "$name" $(((large - small) / 2000)) "$locked"
}

if [ $# -ge 3 ]; then
    measure "$1" "$2" "$3"
    exit
fi
cargo build --release --quiet --example bench_hello --example bench_anchors
R=target/release/examples
measure "HttpRequestHandler (bench_hello handler)" /hello "$R/bench_hello {PORT} handler"
measure "HttpServer + service_fn (bench_hello hyper)" /hello "$R/bench_hello {PORT} hyper"
measure "HttpServer + service_fn, Python's head (bench_hello hyper-python)" /hello "$R/bench_hello {PORT} hyper-python"
measure "bare hyper (bench_anchors hello)" /hello "$R/bench_anchors {PORT} hello"
measure "bare hyper, Python's head (bench_anchors hello-python)" /hello "$R/bench_anchors {PORT} hello-python"
