#!/bin/sh
# no-cgroup.sh COMMAND [ARG...] -- runs COMMAND (a basehttp server) with the cgroup v2 hierarchy
# mounted read-only in a mount namespace of its own, so that it cannot give each CGI script a
# cgroup and falls back to killing a script's process group only, as it does wherever the
# server's cgroup is not writable. For benches/load.py, beside the same server without it: what
# the per-script cgroups cost. Needs root (a mount namespace) and util-linux's `unshare` and
# `findmnt`. Execs COMMAND, so this script's PID is the server's.
set -eu
[ $# -ge 1 ] || { echo "usage: no-cgroup.sh COMMAND [ARG...]" >&2; exit 2; }
MNT=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
[ -n "$MNT" ] || { echo "no-cgroup.sh: no cgroup v2 hierarchy is mounted" >&2; exit 2; }
# `unshare -m` makes the new namespace's mounts private: the host's stay as they are.
exec unshare -m sh -c 'mount -o remount,ro,bind "$0" && exec "$@"' "$MNT" "$@"
