"""A small disk to fill up on purpose: a tmpfs of its own (root only), and a filler that takes all of it."""

import subprocess
from pathlib import Path

import pytest


def mount_tmpfs(directory: Path, size: str) -> Path:
    """Mount a tmpfs of `size` (e.g. "16m") on `directory`; skip the test, saying why, where mounting is refused."""
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "policycast-test", str(directory)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a {size} tmpfs for the disk-full test ({done.stderr.strip() or 'mount failed'}): "
            "it needs root (or CAP_SYS_ADMIN)"
        )
    return directory


def unmount(directory: Path) -> None:
    subprocess.run(["umount", "-l", str(directory)], capture_output=True)  # lazy: a process may still hold it


def fill_up(directory: Path) -> Path:
    """Write one file until the filesystem says ENOSPC; returns it (delete it to give the space back)."""
    filler = directory / "filler"
    chunk = b"\0" * (256 * 1024)
    with open(filler, "wb", buffering=0) as f:
        for size in (len(chunk), 4096, 1):  # the last bytes of the last pages too
            while True:
                try:
                    f.write(chunk[:size])
                except OSError as e:
                    assert e.errno == 28, e
                    break
    return filler
