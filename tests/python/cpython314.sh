#!/usr/bin/env bash
# Puts CPython 3.14's `Lib/http` (the `http.server` the side-by-side tests compare against) in
# target/cpython314/http, with the two modules of 3.14's standard library it relies on that
# older interpreters lack or format differently: `mimetypes` (`guess_file_type`, 3.13) and
# `argparse` (3.13's help layout, 3.14's `color`). It comes from crates.io: the `rustpython-pylib` crate vendors
# CPython's standard library, and cargo fetches it like any dependency. Nothing is built.
#
# The tests then run the Python originals of the examples on it (tests/python/run.py), with the
# newest interpreter at hand: `python3.14` or `python3.13` on PATH, a pyenv one,
# BASEHTTP_PYTHON313=/path/to/python, or else `python3` (3.11 or newer).
set -euo pipefail
cd "$(dirname "$0")/../.."
dest="${CARGO_TARGET_DIR:-target}/cpython314"
if [ -f "$dest/http/server.py" ] && [ -f "$dest/argparse.py" ] && [ -f "$dest/mimetypes.py" ]; then
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo init -q --vcs none --name fetch-cpython314 "$work"
(cd "$work" && cargo add -q rustpython-pylib@=0.6.0 && cargo fetch -q)
src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rustpython-pylib-0.6.0/Lib/http | head -n 1)"
grep -q 'class HTTPSServer' "$src/server.py" # 3.14's
mkdir -p "$dest"
cp -r "$src" "$dest/"
cp "$src/../mimetypes.py" "$src/../argparse.py" "$dest/"
echo "CPython 3.14's http package (with its mimetypes and argparse) in $dest"
