#!/usr/bin/env bash
# Puts CPython 3.14's `Lib/http` (the `http.server` the side-by-side tests compare against) in
# target/cpython314/http. It comes from crates.io: the `rustpython-pylib` crate vendors
# CPython's standard library, and cargo fetches it like any dependency. Nothing is built.
#
# The tests then run the Python originals of the examples on it, with a Python >= 3.13
# interpreter (3.14's http.server uses 3.13's mimetypes): `python3.14` or `python3.13` on
# PATH, a pyenv one, or BASEHTTP_PYTHON313=/path/to/python3.13.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest="${CARGO_TARGET_DIR:-target}/cpython314"
if [ -f "$dest/http/server.py" ]; then
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
echo "CPython 3.14's http package in $dest/http"
