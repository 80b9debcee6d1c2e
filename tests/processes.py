"""Our own CLIs as real child processes, started, run and stopped one way: from the repository root, text
output. `argv` is what services.core.cli.command builds."""

import signal
import subprocess
from pathlib import Path

from services.core.cli import command

ROOT = Path(__file__).resolve().parents[1]


def run(argv, timeout: float = 300, env=None) -> subprocess.CompletedProcess:
    """Run to its end, stdout and stderr captured."""
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def start(argv, env=None, stdout=subprocess.PIPE, stderr=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=stdout, stderr=stderr, text=True)


def stop(*procs: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM each (as a container is stopped), then wait for each in turn; kill one that outlives `grace`."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def train(runs: Path, task: str, *args, timeout: float = 600, env=None, **overrides) -> Path:
    """A short real training run (config=train_headless) into `runs`; its experiment. A failed run fails
    the caller with the end of its output."""
    done = run(command("train", "config=train_headless", *args, task=task, runsDir=runs, **overrides), timeout, env)
    assert done.returncode == 0, f"training failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return (runs / "latest_train").resolve()
