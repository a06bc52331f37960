#!/bin/sh
# fixtures.sh [DIR] -- the benchmarks' document root (default: target/bench-root).
#
#   small.html         1 KiB of HTML            medium.bin   100 KiB of random bytes
#   large.bin         64 MiB of random bytes    hello.txt    "Hello, world!"
#   many/           1000 files (the listing)    cgi-bin/hello.sh, cgi-bin/hello.py (CGI scripts)
#
# Files already there with the right size or content are left as they are, untouched: a second
# run costs nothing and changes no file's ctime (basehttp's memory cache keeps only files that
# have not changed for a second, so a touched file would be served from disk at first).
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
# Writes standard input to FILE, unless FILE already holds exactly that (compared from a file
# outside DIR, so that no name comes and goes in DIR either).
put() {
    new=$(mktemp)
    cat >"$new"
    cmp -s "$new" "$1" || cat "$new" >"$1"
    rm -f "$new"
}

printf 'Hello, world!' | put "$DIR/hello.txt"

if [ ! -e "$DIR/many/file-0999.txt" ]; then
    i=0
    while [ $i -lt 1000 ]; do
        printf 'file %d\n' $i >"$(printf '%s/many/file-%04d.txt' "$DIR" $i)"
        i=$((i + 1))
    done
fi

put "$DIR/cgi-bin/hello.sh" <<'SH'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\nHello\n'
SH
put "$DIR/cgi-bin/hello.py" <<'PY'
#!/usr/bin/env python3
import sys
sys.stdout.write("Content-Type: text/plain\r\n\r\nHello\n")
PY
# Modes changed only where they must (a chmod updates the ctime even when the mode stays).
for script in "$DIR/cgi-bin/hello.sh" "$DIR/cgi-bin/hello.py"; do
    [ "$(stat -c %a "$script")" = 755 ] || chmod 755 "$script"
done
find "$DIR" \( -type d ! -perm -0555 -o ! -type d ! -perm -0444 \) -exec chmod a+rX {} +
echo "$DIR"
