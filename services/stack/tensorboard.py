"""`make tensorboard`: TensorBoard over the training runs and every tester's evaluation, on 127.0.0.1.

Each tester writes its evaluation to a folder of its own, `<run>/eval/<tester id>/`, so TensorBoard shows it
as a run beside the training's `<run>/summaries`:
- local runtime (or runs trained and tested by hand): the testers write into the runs they read, so one
  folder holds everything — `runs-shared/` (the local stack's mirror) when there is one, else `runs/`;
- compose: the `tensorboard` service of compose.up.yaml (profile, so `make up` does not start it) mounts
  the shared `runs` volume at /tb/train and the testers' `tester-runs` at /tb/testers, where each tester
  writes `<run>/eval/<tester id>/` (runs are read-only to testers): runs `train/<run>/summaries` and
  `testers/<run>/eval/<tester id>` side by side.
In the foreground either way: Ctrl+C stops it. Each runtime's `tensorboard` verb starts it (local.py,
compose.py; swarm.py says where to run it instead); this module holds what they share.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

DEFAULT_PORT = 6006  # TensorBoard's own


def local_logdir(home: Path = Path(".")) -> Path:
    """The local stack's mirror (training and the testers' evaluation) when there is one, else runs/."""
    shared = home / "runs-shared"
    return shared if shared.is_dir() else home / "runs"


def local_argv(logdir: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(logdir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
