#!/bin/sh
# fixtures.sh [DIR] -- the benchmarks' document root (default: target/bench-root).
#
#   small.html         1 KiB of HTML            medium.bin   100 KiB of random bytes
#   large.bin         64 MiB of random bytes    hello.txt    "Hello, world!"
#   many/           1000 files (the listing)    cgi-bin/hello.sh, cgi-bin/hello.py (CGI scripts)
#
# Files already there with the right size are kept, so a second run costs nothing.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/bench-root}
mkdir -p "$DIR/many" "$DIR/cgi-bin"

size() { stat -c %s "$1" 2>/dev/null || echo none; }

if [ "$(size "$DIR/small.html")" != 1024 ]; then
    head='<!DOCTYPE html>
<html><head><title>small</title></head><body><p>'
    tail='</p></body></html>
'
    {
        printf '%s' "$head"
        head -c $((1024 - ${#head} - ${#tail})) /dev/zero | tr '\0' 'a'
        printf '%s' "$tail"
    } >"$DIR/small.html"
fi
[ "$(size "$DIR/medium.bin")" = 102400 ] || head -c 102400 /dev/urandom >"$DIR/medium.bin"
[ "$(size "$DIR/large.bin")" = 67108864 ] || head -c 67108864 /dev/urandom >"$DIR/large.bin"
printf 'Hello, world!' >"$DIR/hello.txt"

if [ ! -e "$DIR/many/file-0999.txt" ]; then
    i=0
    while [ $i -lt 1000 ]; do
        printf 'file %d\n' $i >"$(printf '%s/many/file-%04d.txt' "$DIR" $i)"
        i=$((i + 1))
    done
fi

cat >"$DIR/cgi-bin/hello.sh" <<'SH'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\nHello\n'
SH
cat >"$DIR/cgi-bin/hello.py" <<'PY'
#!/usr/bin/env python3
import sys
sys.stdout.write("Content-Type: text/plain\r\n\r\nHello\n")
PY
chmod 755 "$DIR/cgi-bin/hello.sh" "$DIR/cgi-bin/hello.py"
chmod -R a+rX "$DIR"
echo "$DIR"
