"""python -m services.stack COMMAND — the stack behind `make up/down/deploy/undeploy/ps/logs/images/testers/
reload-interval/tensorboard`.

Runtime: Docker Compose when an engine runs (RUNTIME=docker), else local processes (RUNTIME=local);
`deploy` puts the same services on the Docker Swarm this engine manages (services/stack/swarm.py).
POLICYCAST_HOME (default: the working directory) holds runs/, runs-shared/, .policycast.env, .policycast/.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from services.core import archive
from services.core.auth import bearer
from services.core.cli import command
from services.core.config import choices

from . import compose, disk, gpu, settings, supervisor, swarm, tensorboard
from .supervisor import Spec, Supervisor

ROOT = compose.ROOT


def task_of(experiment: str, default: str) -> str:
    """Experiments are named <Task>_train_<stamp>: a tester must simulate the task its policy learnt."""
    head = Path(experiment.rstrip("/")).name.split("_", 1)[0]
    return head if head in choices("task") else default


def streamer_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def dashboard_url(port: int, saved) -> str:
    """The URL to open once, as Jupyter prints its own: the page keeps the token and drops it from the bar."""
    return f"{streamer_url(port)}/?token={saved['POLICYCAST_TOKEN']}"


def streamer_up(port: int) -> bool:
    try:
        return requests.get(streamer_url(port) + "/healthz", timeout=2).ok
    except requests.RequestException:
        return False


def wait_for_streamer(port: int, timeout_s: float = 240) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if streamer_up(port):
            return True
        time.sleep(1)
    return False


def runtime(choice: str) -> str:
    if choice != "auto":
        return choice
    if supervisor.running_pid():
        return "local"
    return "docker" if compose.engine_running() else "local"


# --- commands ------------------------------------------------------------------------------------
def cmd_up(a) -> int:
    saved = settings.save(
        {"RELOAD_INTERVAL": a.reload_interval and settings.parse_interval(a.reload_interval), "TASK": a.task}
    )
    rt = runtime(a.runtime)
    if rt == "docker":
        if note := gpu.docker_note(a.gpu):
            print(f"stack: {note}", flush=True)
        return up_docker(a, saved)
    if a.runtime == "auto":
        print(
            "stack: no Docker engine is running: starting the services as local processes "
            "(same ports and API; Ctrl+C stops them all)",
            flush=True,
        )
    training = None
    if not a.sync_source:  # else the trainer runs on the remote server
        try:
            training = gpu.choose(a.gpu, a.num_envs)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"stack: {training.note}", flush=True)
    return up_local(a, saved, training)


def service_env(a) -> dict[str, str]:
    """The variables compose.yaml reads, from `make up` / `make deploy` options."""
    on = a.gpu == "1"  # Docker and Swarm train on a GPU only when asked: CUDA images, the NVIDIA runtime
    return {
        "TASK": a.task,
        "NUM_ENVS": str(a.num_envs or (gpu.GPU_ENVS if on else gpu.CPU_ENVS)),
        "STREAM_PORT": str(a.port),
        "MAX_ITERATIONS": str(a.max_iterations or ""),
        "SAVE_FREQUENCY": str(a.save_frequency),
        "HAND": a.hand or "",
        "RESUME": "1" if a.resume else "",
        **({"DEVICE": "cuda:0"} if on else {}),
    }


def up_docker(a, saved) -> int:
    on = a.gpu == "1"
    compose.build(gpu=on)
    env = service_env(a)
    services = []
    if a.sync_source:
        env["SYNC_SOURCE"] = a.sync_source
        services = ["sync", "tester", "streamer"]  # the trainer runs on the remote server
    args = (["--profile", "gpu"] if on else []) + ["up", "-d", "--scale", f"tester={a.testers}"]
    args += ["--scale", "trainer=0"] if on else []
    if compose.compose(args + services, settings.ENV_FILE, env).returncode != 0:
        return 1
    return announce(a.port, saved)


def announce(port: int, saved, note: str = "") -> int:
    if not wait_for_streamer(port):
        print(f"stack: the streamer did not answer on {streamer_url(port)}/healthz; see `make logs`", file=sys.stderr)
        return 1
    print(
        f"\n  dashboard: {dashboard_url(port, saved)}   (its control token: POLICYCAST_TOKEN in {settings.ENV_FILE})"
        f"\n{note}"
        f"  testers keep each checkpoint at least {saved['RELOAD_INTERVAL']} s; change it live with "
        "`make reload-interval=N`\n",
        flush=True,
    )
    return 0


def cmd_deploy(a) -> int:
    saved = settings.save(
        {"RELOAD_INTERVAL": a.reload_interval and settings.parse_interval(a.reload_interval), "TASK": a.task}
    )
    try:
        swarm.deploy(a, service_env(a), saved)
    except (swarm.SwarmError, subprocess.CalledProcessError) as e:
        print(f"error: make deploy: {e}", file=sys.stderr)
        return 1
    return announce(
        a.port,
        saved,
        "  published in host mode on every interface of the streamer's node (a manager): "
        "every control call needs the token\n",
    )


def cmd_undeploy(a) -> int:
    try:
        swarm.undeploy()
    except swarm.SwarmError as e:
        print(f"error: make undeploy: {e}", file=sys.stderr)
        return 1
    return 0


def trainer_spec(a, training: gpu.Training) -> Spec:
    """The local runtime's trainer: the task, where it trains (GPU=auto|0|1) and on how many worlds."""
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


def up_local(a, saved, training: gpu.Training | None) -> int:
    if supervisor.running_pid():
        print("stack: a local stack already runs here (make down stops it)", file=sys.stderr)
        return 1
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
        "POLICYCAST_TOKEN": saved["POLICYCAST_TOKEN"],
    }
    shared = Path(a.shared_dir)
    url = streamer_url(a.port)
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
                f"task={task_of(experiment, a.task)}",
                *hand,
                f"checkpoint={experiment}",
                f"reloadInterval={interval}",
                f"runsDir={shared}",
                f"test.streamerUrl={url}",
                f"test.id={name}",
                *view3d,
            ),
            group=experiment,
        )

    streamer = command("streamer", "--port", a.port)
    if os.environ.get("STREAM_BIND") == "0.0.0.0":
        streamer.append("--bind-all")
    source = a.sync_source or f"{a.runs_dir}/"
    specs = [
        Spec("streamer", streamer),
        Spec(
            "sync",
            command(
                "sync",
                "--source",
                source,
                "--dest",
                f"{shared}/",
                "--interval",
                a.sync_interval,
                "--metrics-port",
                a.sync_port,
            ),
        ),
    ]
    if training is not None:
        specs.insert(0, trainer_spec(a, training))
    supervisor.STATE_DIR.mkdir(exist_ok=True)
    Path(a.runs_dir).mkdir(parents=True, exist_ok=True)  # sync refuses a missing source
    supervisor.TESTERS_FILE.write_text(json.dumps({"latest": a.testers}))
    sup = Supervisor(env, tester_spec)
    tail = (
        f"   (testers keep each checkpoint at least {saved['RELOAD_INTERVAL']} s; "
        "`make reload-interval=N` changes it live)"
    )
    threading.Thread(
        target=lambda: (
            wait_for_streamer(a.port)
            # the token on the terminal only, as Jupyter prints it; the log file gets the bare URL
            and sup.say("stack", f"dashboard: {dashboard_url(a.port, saved)}{tail}", logged=f"dashboard: {url}{tail}")
        ),
        daemon=True,
    ).start()
    return sup.run(specs)


def cmd_down(a) -> int:
    pid = supervisor.running_pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(60):
            if not supervisor.running_pid():
                break
            time.sleep(0.5)
        print("stack: local services stopped")
    if compose.engine_running():
        if swarm.deployed():
            print(f"stack: the swarm stack {swarm.STACK} keeps running (make undeploy removes it)")
        return compose.compose(["down", "--remove-orphans"], settings.ENV_FILE).returncode
    return 0


def cmd_ps(a) -> int:
    if supervisor.running_pid():
        for p in json.loads(supervisor.STATE_FILE.read_text())["procs"]:
            print(f"{p['name']:<24} pid {p['pid']:<8} {p['state']:<10} restarts {p['restarts']}")
        print("\n".join(disk.local("runs", int(os.environ.get("SYNC_PORT", 58090)))))
        return 0
    if swarm.deployed():
        return swarm.ps()
    if compose.engine_running():
        code = compose.compose(["ps", "-a"], settings.ENV_FILE).returncode
        if compose.project_running():
            print("\n".join(disk.docker(streamer_url(a.port))))
        return code
    print("stack: nothing runs (no local stack, no Docker engine)")
    return 0


def cmd_keep(a) -> int:
    """Mark an experiment kept (never moved to the archive), or no longer, where the trainer writes."""
    verb = "unkeep" if a.undo else "keep"
    if not supervisor.running_pid() and compose.engine_running() and compose.project_running():
        return compose.compose(
            ["run", "--rm", "--no-deps", "-T", "--entrypoint", "python", "trainer"]
            + ["-m", "services.core.archive", verb, "/trainer-runs", a.experiment],
            settings.ENV_FILE,
        ).returncode
    if swarm.deployed():
        print(
            "error: make keep: on a swarm, run it on the training node: docker exec <trainer container> "
            f"python -m services.core.archive {verb} /trainer-runs {a.experiment}",
            file=sys.stderr,
        )
        return 1
    from services.core.checkpoints import ResolveError, resolve

    for folder in ("runs", "runs-shared"):  # the trainer's, then the mirror (testers' own experiments)
        try:
            resolve(a.experiment, folder)
        except ResolveError:
            continue
        return archive.main([verb, folder, a.experiment])
    return archive.main([verb, "runs", a.experiment])  # its one-line refusal lists what exists


def cmd_logs(a) -> int:
    if supervisor.running_pid() or not compose.engine_running():
        if not supervisor.LOG_FILE.exists():
            print("stack: no local stack log yet")
            return 0
        return subprocess.run(
            ["tail", "-n", str(a.tail)] + (["-F"] if a.follow else []) + [str(supervisor.LOG_FILE)]
        ).returncode
    if swarm.deployed():
        return swarm.logs(a.tail, a.follow)
    return compose.compose(["logs", "--tail", str(a.tail)] + (["-f"] if a.follow else []), settings.ENV_FILE).returncode


def cmd_images(a) -> int:
    if not compose.engine_running():
        print("stack: no Docker engine is running (start dockerd, or use the local runtime: make up)", file=sys.stderr)
        return 1
    compose.build(gpu=a.gpu)
    return subprocess.run(["docker", "images", "--filter", "reference=policycast-*"]).returncode


def cmd_testers(a) -> int:
    if a.n < 0:
        print(f"error: N={a.n}: expects an integer >= 0", file=sys.stderr)
        return 2
    saved = settings.load()
    if supervisor.running_pid():
        wanted = json.loads(supervisor.TESTERS_FILE.read_text()) if supervisor.TESTERS_FILE.exists() else {}
        wanted[a.experiment] = a.n
        supervisor.TESTERS_FILE.write_text(json.dumps(wanted))
    elif compose.engine_running() and compose.project_running():
        compose.set_testers(a.experiment, a.n, task_of(a.experiment, saved["TASK"]), settings.ENV_FILE)
    elif swarm.deployed():
        try:
            swarm.set_testers(a.experiment, a.n, task_of(a.experiment, saved["TASK"]))
        except swarm.SwarmError as e:
            print(f"error: make testers: {e}", file=sys.stderr)
            return 1
    else:
        print("error: no stack runs here: start one with `make up` first", file=sys.stderr)
        return 1
    print(f"stack: {a.n} tester(s) for {a.experiment}; they show on {streamer_url(a.port)} within seconds")
    return 0


def cmd_reload_interval(a) -> int:
    seconds = settings.parse_interval(a.seconds)
    saved = settings.save({"RELOAD_INTERVAL": seconds})
    if not streamer_up(a.port):
        print(f"stack: no stack running: remembered reload-interval={seconds} s for the next `make up`")
        return 0
    r = requests.put(
        streamer_url(a.port) + "/api/reload-interval",
        json={"seconds": float(seconds)},
        headers=bearer(saved["POLICYCAST_TOKEN"]),
        timeout=30,
    )
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    took = [t for t in body.get("testers", []) if "status" in t]
    for t in body.get("testers", []):
        print(
            f"  {t['id']}: "
            + (
                f"keeps each checkpoint >= {t['status'].get('reload_interval')} s"
                if "status" in t
                else f"failed: {t.get('error')}"
            )
        )
    for tester_id in body.get("offline", []):
        print(f"  {tester_id}: offline, skipped (a stale tile: remove it on the dashboard)")
    if not r.ok:
        print(f"error: the streamer answered {r.status_code}: {body.get('error', r.text[:200])}", file=sys.stderr)
        return 1
    print(f"stack: reload-interval={seconds} s set on {len(took)} tester(s) and remembered")
    return 0


def cmd_tensorboard(a) -> int:
    """RUNTIME=auto: the running stack's runtime; with none running, the runs here, else a stopped compose
    stack's volumes."""
    if a.runtime != "auto":
        rt = a.runtime
    elif supervisor.running_pid():
        rt = "local"
    elif compose.engine_running() and (
        compose.project_running() or swarm.deployed() or not tensorboard.local_logdir().is_dir()
    ):
        rt = "docker"
    else:
        rt = "local"
    return tensorboard.run(rt, a.tb_port)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.stack", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=int(os.environ.get("STREAM_PORT", 58080)), help="streamer port")
    sub = p.add_subparsers(dest="cmd", required=True)
    stack = argparse.ArgumentParser(add_help=False)  # what `up` and `deploy` both take
    stack.add_argument("--task", default="Reach", choices=choices("task"))
    stack.add_argument(
        "--num-envs", type=int, default=None, help=f"training worlds (default: {gpu.CPU_ENVS}; {gpu.GPU_ENVS} on a GPU)"
    )
    stack.add_argument("--testers", type=int, default=1)
    stack.add_argument("--reload-interval", default=None)
    stack.add_argument(
        "--max-iterations",
        type=int,
        default=None,
        help="PPO epochs (default: the task's budget in configs/train/<Task>PPO.yaml)",
    )
    stack.add_argument("--save-frequency", type=int, default=10)
    stack.add_argument(
        "--gpu",
        nargs="?",
        const="1",
        default="auto",
        choices=gpu.MODES,
        help="auto (local runtime: the GPU when one is here and MuJoCo Warp is installed), 0 (the CPU), "
        "1 (the GPU; Docker: compose profile gpu, Swarm: a generic resource)",
    )
    stack.add_argument(
        "--resume",
        action="store_true",
        help="the trainer continues the latest run's newest checkpoint when there is one",
    )
    # the names of services/sim/hands/__init__.py's HANDS (not imported: it pulls in torch for a make command)
    stack.add_argument(
        "--hand", default=None, choices=("procedural", "adroit"), help="the hand model (default: the task's)"
    )
    up = sub.add_parser("up", parents=[stack], help="start the stack (builds images in Docker mode)")
    up.set_defaults(func=cmd_up)
    up.add_argument("--runtime", choices=["auto", "docker", "local"], default=os.environ.get("RUNTIME", "auto"))
    up.add_argument("--sync-source", default=None, help="remote runs (user@server:/path/runs): no local trainer")
    up.add_argument("--sync-interval", type=float, default=5)
    up.add_argument("--sync-port", type=int, default=int(os.environ.get("SYNC_PORT", 58090)))
    up.add_argument("--runs-dir", default="runs")
    up.add_argument("--shared-dir", default="runs-shared")
    deploy = sub.add_parser("deploy", parents=[stack], help="deploy the stack to this engine's Docker Swarm")
    deploy.set_defaults(func=cmd_deploy)
    deploy.add_argument(
        "--registry",
        default=os.environ.get("REGISTRY") or None,
        help="host:port the images are pushed to (needed on a swarm of several nodes)",
    )
    sub.add_parser("down", help="stop everything (the runs volume and runs/ stay)").set_defaults(func=cmd_down)
    sub.add_parser("undeploy", help="remove the swarm stack (the volumes stay)").set_defaults(func=cmd_undeploy)
    sub.add_parser("ps", help="what runs, and the disk it uses").set_defaults(func=cmd_ps)
    k = sub.add_parser("keep", help="never move an experiment to the archive (runs_all/); --undo: again allowed")
    k.set_defaults(func=cmd_keep)
    k.add_argument("--experiment", default="latest", help="name, unique part of it, or latest")
    k.add_argument("--undo", action="store_true")
    logs = sub.add_parser("logs", help="the services' logs")
    logs.set_defaults(func=cmd_logs)
    logs.add_argument("--tail", type=int, default=200)
    logs.add_argument("-f", "--follow", action="store_true")
    images = sub.add_parser("images", help="build the Docker images")
    images.set_defaults(func=cmd_images)
    images.add_argument("--gpu", action="store_true", help="with MuJoCo Warp (the GPU physics backend)")
    t = sub.add_parser("testers", help="run N testers for an experiment")
    t.set_defaults(func=cmd_testers)
    t.add_argument("--experiment", default="latest")
    t.add_argument("-n", type=int, default=2)
    tb = sub.add_parser("tensorboard", help="TensorBoard over the training runs and every tester's evaluation")
    tb.set_defaults(func=cmd_tensorboard)
    tb.add_argument(
        "--tb-port", type=int, default=int(os.environ.get("TB_PORT", tensorboard.DEFAULT_PORT)), help="its port"
    )
    tb.add_argument("--runtime", choices=["auto", "docker", "local"], default=os.environ.get("RUNTIME", "auto"))
    r = sub.add_parser("reload-interval", help="set every tester's reload interval live and remember it")
    r.set_defaults(func=cmd_reload_interval)
    r.add_argument("seconds")
    a = p.parse_args(argv)
    for name in ("num_envs", "testers", "max_iterations"):
        if getattr(a, name, 1) is not None and getattr(a, name, 1) < (0 if name == "testers" else 1):
            p.error(f"--{name.replace('_', '-')}: expects a positive integer")
    if os.environ.get("POLICYCAST_HOME"):
        os.chdir(os.environ["POLICYCAST_HOME"])
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
