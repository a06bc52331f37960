#!/usr/bin/env bash
# rss-32-downloads.sh [DOCROOT] -- peak RSS of `basehttp` while 32 curl clients download the
# 64 MiB /large.bin at once, twice. Server pinned to CPU 1, clients to CPU 0, traffic to
# 127.0.0.1 only; every curl is capped at 60 s. DOCROOT (default target/bench-root) gets
# benches/fixtures.sh's files first. Prints the peak (VmHWM) and the thread count. FLAGS adds
# options to basehttp's command line (FLAGS=--sendfile).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$("$ROOT/benches/fixtures.sh" ${1:+"$1"})
BIN=${BASEHTTP:-$ROOT/target/release/basehttp}
PORT=${PORT:-18390}
# shellcheck disable=SC2086 # FLAGS is a list of options
taskset -c 1 "$BIN" "$PORT" -b 127.0.0.1 -d "$DIR" -p HTTP/1.1 -q ${FLAGS:-} >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/small.html" && break; sleep 0.1; done
for _ in 1 2; do
  CLIENTS=()
  for _ in $(seq 32); do
    taskset -c 0 curl -s -o /dev/null --max-time 60 "http://127.0.0.1:$PORT/large.bin" &
    CLIENTS+=($!)
  done
  wait "${CLIENTS[@]}"
done
echo "peak RSS $(awk '/VmHWM/{print int($2/1024)}' /proc/$PID/status) MiB, $(ls /proc/$PID/task | wc -l) threads"
