"""Local runtime: the stack's services as processes of this machine under one supervisor
(supervisor.py), with the verbs every runtime module has (running, up, down, ps, logs, testers, keep,
tensorboard).

`up` runs in the foreground (Ctrl+C stops it all); the other verbs find it by the state it keeps in
.policycast/ under POLICYCAST_HOME: its pid and children, the testers wanted per experiment, its log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from services.core import archive
from services.core.checkpoints import ResolveError, resolve
from services.core.cli import command

from . import ROOT, dashboard, disk, gpu, settings, supervisor
from . import tensorboard as board
from .supervisor import Spec, Supervisor

STOP_WAIT_S = 30.0  # `make down`: how long the supervisor may take to stop every child


def running() -> bool:
    return supervisor.running_pid() is not None


# --- what it runs ---------------------------------------------------------------------------------
def trainer_spec(a, training: gpu.Training) -> Spec:
    """The trainer: the task, where it trains (GPU=auto|0|1) and on how many worlds."""
    budget = [f"maxIterations={a.max_iterations}"] if a.max_iterations else []  # else the task's own
    resume = ["checkpoint=latest"] if a.resume and (Path(a.runs_dir) / "latest_train").exists() else []
    hand = [f"task.hand={a.hand}"] if getattr(a, "hand", None) else []
    return Spec(
        "trainer",
        command(
            "trainer",
            f"task={a.task}",
            f"numEnvs={training.num_envs}",
            f"device={training.device}",  # testers stay on the CPU: they render world 0
            *budget,
            *resume,
            *hand,
            f"train.saveFrequency={a.save_frequency}",
            f"runsDir={a.runs_dir}",
        ),
        restart=False,
    )


def tester_specs(a):
    """(experiment, index) -> the Spec of that tester, for the supervisor to start testers with."""
    hand = [f"task.hand={a.hand}"] if getattr(a, "hand", None) else []  # else the task's (a run's testers take its own)
    # every tester's 3D view on 127.0.0.1; the network only with its own opt-in (it has no authentication)
    view3d = ["test.view3d.enabled=true"] + (
        ["test.view3d.bindAll=true"] if os.environ.get("VIEW3D_BIND") == "0.0.0.0" else []
    )

    def tester_spec(experiment: str, index: int) -> Spec:
        name = f"{'tester' if experiment == 'latest' else experiment[:50]}-{index}"
        interval = settings.load()["RELOAD_INTERVAL"]  # the remembered one, at the time it starts
        return Spec(
            name,
            command(
                "tester",
                f"task={settings.task_of(experiment, a.task)}",
                *hand,
                f"checkpoint={experiment}",
                f"reloadInterval={interval}",
                f"runsDir={Path(a.shared_dir)}",
                f"test.streamerUrl={dashboard.streamer_url(a.port)}",
                f"test.id={name}",
                *view3d,
            ),
            group=experiment,
        )

    return tester_spec


def service_specs(a) -> list[Spec]:
    """The streamer and sync (from runs/, or the remote source of `make up-remote`, into the mirror)."""
    streamer = command("streamer", "--port", a.port)
    if os.environ.get("STREAM_BIND") == "0.0.0.0":
        streamer.append("--bind-all")
    source = a.sync_source or f"{a.runs_dir}/"
    sync = command(
        "sync",
        *("--source", source, "--dest", f"{Path(a.shared_dir)}/"),
        *("--interval", a.sync_interval, "--metrics-port", a.sync_port),
    )
    return [Spec("streamer", streamer), Spec("sync", sync)]


# --- the verbs ------------------------------------------------------------------------------------
def up(a, saved) -> int:
    """Start every service and supervise them until Ctrl+C or `make down` (in the foreground)."""
    if running():
        print("stack: a local stack already runs here (make down stops it)", file=sys.stderr)
        return 1
    specs = service_specs(a)
    if not a.sync_source:  # else the trainer runs on the remote server
        try:
            training = gpu.choose(a.gpu, a.num_envs, a.task)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"stack: {training.note}", flush=True)
        specs.insert(0, trainer_spec(a, training))
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
        "POLICYCAST_TOKEN": saved["POLICYCAST_TOKEN"],
    }
    supervisor.STATE_DIR.mkdir(exist_ok=True)
    Path(a.runs_dir).mkdir(parents=True, exist_ok=True)  # sync refuses a missing source
    supervisor.TESTERS_FILE.write_text(json.dumps({"latest": a.testers}))
    sup = Supervisor(env, tester_specs(a))
    url = dashboard.streamer_url(a.port)
    tail = (
        f"   (testers keep each checkpoint at least {saved['RELOAD_INTERVAL']} s; "
        "`make reload-interval=N` changes it live)"
    )
    threading.Thread(
        target=lambda: (
            dashboard.wait_for_streamer(a.port)
            # the token on the terminal only, as Jupyter prints it; the log file gets the bare URL
            and sup.say(
                "stack", f"dashboard: {dashboard.dashboard_url(a.port, saved)}{tail}", logged=f"dashboard: {url}{tail}"
            )
        ),
        daemon=True,
    ).start()
    return sup.run(specs)


def down() -> int:
    """Ask the supervisor to stop (it stops every child first), and wait until it has."""
    pid = supervisor.running_pid()
    if pid is None:
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    while running():
        if time.monotonic() > deadline:
            print(f"error: the local stack (pid {pid}) is still stopping after {STOP_WAIT_S:g} s", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print("stack: local services stopped")
    return 0


def ps(port: int) -> int:
    """Every child with its pid, state and restarts, then the disk lines."""
    for p in json.loads(supervisor.STATE_FILE.read_text())["procs"]:
        print(f"{p['name']:<24} pid {p['pid']:<8} {p['state']:<10} restarts {p['restarts']}")
    print("\n".join(disk.local("runs", int(os.environ.get("SYNC_PORT", 58090)))))
    return 0


def logs(tail: int, follow: bool) -> int:
    """The supervisor's log (every child's lines), also after it stopped."""
    if not supervisor.LOG_FILE.exists():
        print("stack: no local stack log yet")
        return 0
    return subprocess.run(
        ["tail", "-n", str(tail)] + (["-F"] if follow else []) + [str(supervisor.LOG_FILE)]
    ).returncode


def testers(experiment: str, n: int) -> int:
    """Write the wanted count; the supervisor starts or stops testers within a second."""
    wanted = json.loads(supervisor.TESTERS_FILE.read_text()) if supervisor.TESTERS_FILE.exists() else {}
    wanted[experiment] = n
    supervisor.TESTERS_FILE.write_text(json.dumps(wanted))
    return 0


def keep(experiment: str, undo: bool) -> int:
    """Mark an experiment kept (never moved to the archive), or no longer, where it is found."""
    verb = "unkeep" if undo else "keep"
    for folder in ("runs", "runs-shared"):  # the trainer's, then the mirror (testers' own experiments)
        try:
            resolve(experiment, folder)
        except ResolveError:
            continue
        return archive.main([verb, folder, experiment])
    return archive.main([verb, "runs", experiment])  # its one-line refusal lists what exists


def tensorboard(port: int) -> int:
    """TensorBoard over the mirror (or runs/), in the foreground."""
    logdir = board.local_logdir()
    if not logdir.is_dir():
        print(f"error: make tensorboard: no {logdir}/ here yet: start training first (make up)", file=sys.stderr)
        return 1
    print(
        f"tensorboard: {board.url(port)}   ({logdir.resolve()}: training and every tester's evaluation; "
        "Ctrl+C stops it)",
        flush=True,
    )
    try:
        return subprocess.run(board.local_argv(logdir, port)).returncode
    except KeyboardInterrupt:
        return 0
