"""`make tensorboard`: TensorBoard over the training runs and every tester's evaluation, on 127.0.0.1.

Each tester writes its evaluation to a folder of its own, `<run>/eval/<tester id>/`, so TensorBoard shows it
as a run beside the training's `<run>/summaries`:
- local runtime (or runs trained and tested by hand): the testers write into the runs they read, so one
  folder holds everything — `runs-shared/` (the local stack's mirror) when there is one, else `runs/`;
- compose: the `tensorboard` service of compose.up.yaml (profile, so `make up` does not start it) mounts
  the shared `runs` volume at /tb/train and the testers' `tester-runs` at /tb/testers, where each tester
  writes `<run>/eval/<tester id>/` (runs are read-only to testers): runs `train/<run>/summaries` and
  `testers/<run>/eval/<tester id>` side by side.
In the foreground either way: Ctrl+C stops it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from . import compose, settings, swarm

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


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run(runtime: str, port: int) -> int:
    if not port_free(port):
        print(
            f"error: make tensorboard: port {port} on 127.0.0.1 is already in use (TB_PORT=N picks another)",
            file=sys.stderr,
        )
        return 1
    url = f"http://127.0.0.1:{port}"
    if runtime == "docker":
        if swarm.deployed():
            print(
                "error: make tensorboard: a swarm's volumes live on each node (the testers' evaluations on the "
                "testing nodes): run `tensorboard --logdir` on a node over its runs and tester-runs volumes",
                file=sys.stderr,
            )
            return 1
        if not settings.ENV_FILE.exists():
            print(
                f"error: make tensorboard: no compose stack was started here (no {settings.ENV_FILE})", file=sys.stderr
            )
            return 1
        print(f"tensorboard: {url}   (the stack's runs and every tester's evaluation; Ctrl+C stops it)", flush=True)
        done = compose.compose(
            ["run", "--rm", "--service-ports", "tensorboard"], settings.ENV_FILE, {"TB_PORT": str(port)}
        )
        return 0 if done.returncode in (0, 130) else done.returncode
    logdir = local_logdir()
    if not logdir.is_dir():
        print(f"error: make tensorboard: no {logdir}/ here yet: start training first (make up)", file=sys.stderr)
        return 1
    print(
        f"tensorboard: {url}   ({logdir.resolve()}: training and every tester's evaluation; Ctrl+C stops it)",
        flush=True,
    )
    try:
        return subprocess.run(local_argv(logdir, port)).returncode
    except KeyboardInterrupt:
        return 0
