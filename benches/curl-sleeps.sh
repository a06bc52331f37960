#!/usr/bin/env bash
# curl-sleeps.sh [DOCROOT] -- how often one `curl` downloading the 64 MiB /large.bin falls asleep
# waiting for the server (its voluntary context switches, from GNU time), and how long a
# download takes, for basehttp (read and copied, and --sendfile) and lighttpd side by side:
# ROUNDS rounds (default 3) of N downloads (default 10) per server, interleaved. Waking the
# client up costs the server more than the data it sends, so fewer sleeps is faster. Server
# pinned to CPU 1, curl to CPU 0, 127.0.0.1 only; every curl is capped at 60 s.
#
# BEFORE=/path/to/an/older/basehttp adds it (and its --sendfile, if it has one) for a before/after
# comparison in one run. Needs curl, lighttpd and /usr/bin/time (apt-get install curl lighttpd
# time).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$("$ROOT/benches/fixtures.sh" ${1:+"$1"})
BIN=${BASEHTTP:-$ROOT/target/release/basehttp}
N=${N:-10} ROUNDS=${ROUNDS:-3} PORT=${PORT:-18450}
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --quiet -p basehttp-cli)

NAMES=() PORTS=() PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
start() { # NAME COMMAND... ({PORT} in COMMAND becomes the server's port)
    local name=$1 port=$((PORT + ${#NAMES[@]}))
    shift
    taskset -c 1 "${@//\{PORT\}/$port}" >/dev/null 2>&1 &
    PIDS+=($!) NAMES+=("$name") PORTS+=("$port")
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/small.html" && return; sleep 0.1; done
    echo "$name did not start" >&2
    exit 1
}
FLAGS=(--bind 127.0.0.1 --directory "$DIR" --protocol HTTP/1.1 -q)
start basehttp "$BIN" {PORT} "${FLAGS[@]}"
start basehttp-sendfile "$BIN" {PORT} "${FLAGS[@]}" --sendfile
if [ -n "${BEFORE:-}" ]; then
    start basehttp-before "$BEFORE" {PORT} "${FLAGS[@]}"
    if "$BEFORE" --help 2>&1 | grep -q -- --sendfile; then
        start basehttp-before-sendfile "$BEFORE" {PORT} "${FLAGS[@]}" --sendfile
    fi
fi
start lighttpd "$ROOT/benches/servers/lighttpd.sh" {PORT} "$DIR"

RESULTS=$(mktemp)
for round in $(seq "$ROUNDS"); do
    for i in "${!NAMES[@]}"; do
        for _ in $(seq "$N"); do
            # curl prints its time, then GNU time (once curl has exited) its sleeps.
            /usr/bin/time -f "%w" taskset -c 0 curl -s -o /dev/null --max-time 60 \
                -w "%{time_total} " "http://127.0.0.1:${PORTS[$i]}/large.bin" 2>&1 |
                sed "s/^/${NAMES[$i]} $round /"
        done
    done
done >"$RESULTS"
echo "one curl downloading /large.bin (64 MiB), $ROUNDS rounds of $N downloads, medians of the rounds"
echo "| server | curl's sleeps per download | ms per download | per round (sleeps / ms) |"
echo "|---|---:|---:|---|"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for name in "${NAMES[@]}"; do
    # One line per round: the mean sleeps and milliseconds of its downloads.
    ROWS=$(awk -v n="$name" '$1 == n { t[$2] += $3; s[$2] += $4; c[$2]++; last = $2 }
        END { for (r = 1; r <= last; r++) printf "%.0f %.1f\n", s[r] / c[r], t[r] / c[r] * 1000 }' "$RESULTS")
    printf '| %s | %s | %s |%s |\n' "$name" "$(cut -d' ' -f1 <<<"$ROWS" | median)" \
        "$(cut -d' ' -f2 <<<"$ROWS" | median)" \
        "$(awk '{ printf "%s %s / %s", (NR > 1 ? "," : ""), $1, $2 }' <<<"$ROWS")"
done
rm -f "$RESULTS"
