"""What the soak and viewer benchmarks read about a process: resident memory, open fds, threads (/proc)."""

from __future__ import annotations

import os


def proc_stats(pid: int) -> dict:
    """{"rss_mb", "fds", "threads"} of a live process (Linux /proc)."""
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.split()
    return {
        "rss_mb": int(status["VmRSS"][0]) / 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(status["Threads"][0]),
    }
