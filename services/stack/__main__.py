"""python -m services.stack COMMAND — the stack behind `make up/down/deploy/undeploy/ps/logs/images/testers/
reload-interval/tensorboard/keep/unkeep`: the arguments, and which runtime module each command goes to.

Runtime: Docker Compose when an engine runs (RUNTIME=docker, compose.py), else local processes
(RUNTIME=local, local.py); `deploy` puts the same services on the Docker Swarm this engine manages
(swarm.py). Each has the same verbs. POLICYCAST_HOME (default: the working directory) holds runs/,
runs-shared/, .policycast.env, .policycast/.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from services.core.config import choices

from . import compose, dashboard, engine, gpu, local, settings, swarm, tensorboard

RUNTIMES = {"local": local, "docker": compose}


def running():
    """The runtime module whose stack runs here (a local supervisor, a compose project, a swarm stack), or
    None."""
    if local.running():
        return local
    if engine.available():
        if compose.project_running():
            return compose
        if swarm.running():
            return swarm
    return None


def start_runtime(choice: str):
    """`make up`'s runtime: as asked, else a local stack that runs already, else Docker when an engine runs."""
    if choice != "auto":
        return RUNTIMES[choice]
    if local.running():
        return local
    if engine.available():
        return compose
    print(
        "stack: no Docker engine is running: starting the services as local processes "
        "(same ports and API; Ctrl+C stops them all)",
        flush=True,
    )
    return local


def remembered(a) -> dict[str, str]:
    """What `up` and `deploy` store in .policycast.env (the token made on first use): the saved settings."""
    interval = a.reload_interval and settings.parse_interval(a.reload_interval)
    return settings.save({"RELOAD_INTERVAL": interval, "TASK": a.task})


# --- commands: each picks a runtime and calls its verb --------------------------------------------
def cmd_up(a) -> int:
    saved = remembered(a)
    return start_runtime(a.runtime).up(a, saved)


def cmd_deploy(a) -> int:
    return swarm.up(a, remembered(a))


def cmd_undeploy(a) -> int:
    return swarm.down()


def cmd_down(a) -> int:
    """Stops the local stack and the compose project, whichever run; a swarm stack stays (undeploy)."""
    code = local.down()
    if engine.available():
        if swarm.running():
            print(f"stack: the swarm stack {swarm.STACK} keeps running (make undeploy removes it)")
        code = compose.down() or code
    return code


def cmd_ps(a) -> int:
    rt = running() or (compose if engine.available() else None)  # compose: its stopped containers too
    if rt is None:
        print("stack: nothing runs (no local stack, no Docker engine)")
        return 0
    return rt.ps(a.port)


def cmd_logs(a) -> int:
    rt = running() or (compose if engine.available() else local)  # a stopped stack's log
    return rt.logs(a.tail, a.follow)


def cmd_keep(a) -> int:
    """Where the trainer writes: the running stack's, else runs/ here."""
    return (running() or local).keep(a.experiment, a.undo)


def cmd_testers(a) -> int:
    if a.n < 0:
        print(f"error: N={a.n}: expects an integer >= 0", file=sys.stderr)
        return 2
    rt = running()
    if rt is None:
        print("error: no stack runs here: start one with `make up` first", file=sys.stderr)
        return 1
    code = rt.testers(a.experiment, a.n)
    if code == 0:
        url = dashboard.streamer_url(a.port)
        print(f"stack: {a.n} tester(s) for {a.experiment}; they show on {url} within seconds")
    return code


def cmd_tensorboard(a) -> int:
    """RUNTIME=auto: the running stack's runtime; with none running, the runs here, else a stopped compose
    stack's volumes."""
    if not tensorboard.port_free(a.tb_port):
        print(
            f"error: make tensorboard: port {a.tb_port} on 127.0.0.1 is already in use (TB_PORT=N picks another)",
            file=sys.stderr,
        )
        return 1
    if a.runtime == "local":
        rt = local
    elif a.runtime == "docker":
        rt = swarm if swarm.running() else compose
    else:
        docker = engine.available() and not tensorboard.local_logdir().is_dir()
        rt = running() or (compose if docker else local)
    return rt.tensorboard(a.tb_port)


def cmd_images(a) -> int:
    return engine.images(gpu=a.gpu)


def cmd_reload_interval(a) -> int:
    return dashboard.reload_interval(a.port, a.seconds)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.stack", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=int(os.environ.get("STREAM_PORT", 58080)), help="streamer port")
    sub = p.add_subparsers(dest="cmd", required=True)
    stack = argparse.ArgumentParser(add_help=False)  # what `up` and `deploy` both take
    stack.add_argument("--task", default="Reach", choices=choices("task"))
    stack.add_argument(
        "--num-envs",
        type=int,
        default=None,
        help=f"training worlds (default: {gpu.CPU_ENVS}, BlindGrasping {gpu.cpu_envs('BlindGrasping')}; "
        f"{gpu.GPU_ENVS} on a GPU)",
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
    try:
        return a.func(a)
    except subprocess.CalledProcessError as e:  # a build or docker step: its own message is above
        print(f"error: make {a.cmd}: {' '.join(map(str, e.cmd))} exited with code {e.returncode}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
