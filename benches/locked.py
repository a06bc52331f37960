#!/usr/bin/env python3
"""locked.py SMALL.out LARGE.out [N] -- locked instructions per request, from two callgrind runs.

callgrind counts instructions, and an atomic read-modify-write (an `Arc` clone or drop, a mutex
lock, a `fetch_add`) is one instruction there, though it costs about 5 ns on this project's
benchmark machines, as much as some 25 plain ones (`cargo bench --bench handler -- atomics`).
This counts them: every executed instruction with
a `lock` prefix, and every `xchg` with a memory operand (locked without one), in the runs
benches/callgrind.sh makes (callgrind's --dump-instr=yes --compress-pos=no
--compress-strings=no), found with objdump in each object the run executed. The difference
between the run of 2,500 requests and the run of 500, over N (2,000), is what one request
costs; the functions that execute them follow, most first.

Needs objdump (binutils).
"""

import re
import subprocess
import sys
from collections import defaultdict

_LOCKED: dict[str, set[int]] = {}


def locked_addresses(obj: str) -> set[int]:
    """The addresses of the locked instructions of the object file `obj`."""
    if obj not in _LOCKED:
        out = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", obj],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        addresses = set()
        for line in out.splitlines():
            m = re.match(r"\s*([0-9a-f]+):\s+(\S+)\s*(.*)", line)
            if not m:
                continue
            mnemonic, operands = m.group(2), m.group(3)
            if mnemonic == "lock" or (mnemonic.startswith("xchg") and "(" in operands):
                addresses.add(int(m.group(1), 16))
        _LOCKED[obj] = addresses
    return _LOCKED[obj]


def count(path: str) -> tuple[int, dict[str, int]]:
    """Locked instructions executed in the callgrind output `path`, in all and by function."""
    total = 0
    by_function: dict[str, int] = defaultdict(int)
    obj = function = None
    call_cost = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("ob="):
                obj = line[3:].strip()
            elif line.startswith("fn="):
                function = line[3:].strip()
            elif line.startswith("calls="):
                # The next cost line is the callee's inclusive cost, counted where it runs.
                call_cost = True
            elif line.startswith("0x"):
                if call_cost:
                    call_cost = False
                    continue
                # The address, the line, then Ir (the only event callgrind.sh collects).
                fields = line.split()
                address, n = int(fields[0], 16), int(fields[2])
                if obj and obj != "???" and address in locked_addresses(obj):
                    total += n
                    by_function[function or "???"] += n
    return total, by_function


def main() -> None:
    small, large = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    a, by_a = count(small)
    b, by_b = count(large)
    print(f"{(b - a) / n:.1f} locked instructions per request")
    rows = sorted(((by_b[k] - by_a.get(k, 0)) / n, k) for k in by_b)
    for per_request, function in reversed(rows):
        if per_request >= 0.5:
            print(f"  {per_request:5.1f}  {function[:140]}")


if __name__ == "__main__":
    main()
