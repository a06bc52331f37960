"""What the benchmark scripts (load.py, hostile.py, upload.py) share: ports, CPU pinning, and
the processes below a server, read from /proc."""

import os
import shutil
import signal
import socket
import subprocess


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(cpu, argv):
    """ARGV on CPU when the machine has more than one and taskset is there."""
    if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
        return ["taskset", "-c", cpu] + argv
    return argv


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (state, ppid, ...), or []."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def proc_tree(root_pid):
    """ROOT_PID and its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and len(fields := stat_fields(entry)) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    pids, todo = [], [root_pid]
    while todo and len(pids) < 100000:
        pids.append(todo.pop())
        todo.extend(children.get(pids[-1], []))
    return pids


def stop_group(proc):
    """Ends PROC's process group: SIGTERM, then SIGKILL after 5 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(5)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            pass
