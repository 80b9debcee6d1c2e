"""Docker Swarm runtime: the verbs every runtime module has (running, up, down, ps, logs, testers, keep,
tensorboard) for the stack on the swarm this engine manages; `make deploy` is its `up`, `make undeploy`
its `down`, and ps, logs and testers act on it while it is deployed.

The stack is compose.yaml + compose.deploy.yaml (+ compose.deploy.gpu.yaml), deployed with `docker stack
deploy` under the compose project's name. What a deploy used (image tag, task, testers per experiment) is
remembered in .policycast/swarm/deploy.json, and every change (`make testers` too) deploys the whole
stack file again with `--prune`: Swarm's own declarative path, which leaves unchanged services running
as they are and removes the services of experiments that no longer have testers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from . import ROOT, compose, dashboard, engine, settings

STACK = compose.PROJECT
FILES = ["compose.yaml", "compose.deploy.yaml"]
GPU_FILE = "compose.deploy.gpu.yaml"
IMAGES = ["trainer", "sync", "tester", "streamer", "runs-ssh"]
SWARM_DIR = Path(".policycast/swarm")  # relative to POLICYCAST_HOME, beside .policycast.env
STATE = SWARM_DIR / "deploy.json"
TRAIN, TEST = "policycast.train", "policycast.test"
EXPERIMENT_LABEL = "policycast.experiment"


class SwarmError(Exception):
    """A refusal printed as one line: the user fixes what it names and runs the command again."""


def docker(*args: str, env: dict | None = None) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["failed"]
        raise SwarmError(f"docker {args[0]} {args[1] if len(args) > 1 else ''}: {lines[-1]}")
    return done.stdout


# --- where we are ---------------------------------------------------------------------------------
def swarm_info() -> dict:
    try:
        return json.loads(docker("info", "--format", "{{json .Swarm}}"))
    except (SwarmError, OSError, ValueError):
        return {}


def is_manager() -> bool:
    info = swarm_info()
    return info.get("LocalNodeState") == "active" and bool(info.get("ControlAvailable"))


def running() -> bool:
    """Whether this engine manages a swarm where the stack runs (then ps/logs/testers go there)."""
    return is_manager() and STACK in docker("stack", "ls", "--format", "{{.Name}}").split()


def require_manager() -> None:
    info = swarm_info()
    if info.get("LocalNodeState") != "active":
        raise SwarmError(
            'this Docker engine is in no swarm: `docker swarm init` makes it a single-node one (README "Scaling out")'
        )
    if not info.get("ControlAvailable"):
        raise SwarmError("this node is a swarm worker: run make deploy on a manager")


def nodes() -> list[dict]:
    return json.loads(docker("node", "inspect", *docker("node", "ls", "-q").split()))


def labelled(ns: list[dict], key: str) -> list[dict]:
    return [n for n in ns if n["Spec"].get("Labels", {}).get(key) == "true"]


def check_labels(ns: list[dict]) -> None:
    """One training node (the trainer and the runs-ssh service that serves its volume must share it: Swarm
    has no affinity between services) and at least one testing node. A lone unlabelled node gets both."""
    if len(ns) == 1 and not labelled(ns, TRAIN) and not labelled(ns, TEST):
        docker("node", "update", "--label-add", f"{TRAIN}=true", "--label-add", f"{TEST}=true", ns[0]["ID"])
        print(f"swarm: single node {ns[0]['Description']['Hostname']}: labelled it {TRAIN}=true and {TEST}=true")
        return
    train = labelled(ns, TRAIN)
    if len(train) != 1:
        raise SwarmError(
            f"{len(train)} nodes are labelled {TRAIN}=true: label exactly one "
            f"(docker node update --label-add {TRAIN}=true NODE)"
        )
    if not labelled(ns, TEST):
        raise SwarmError(
            f"no node is labelled {TEST}=true, where testers run (docker node update --label-add {TEST}=true NODE)"
        )


# --- what a deploy needs --------------------------------------------------------------------------
def publish_images(registry: str | None, gpu: bool, node_count: int) -> dict[str, str]:
    """Build, then tag the images by content (a changed image is a changed spec: Swarm rolls the service)
    and push them when a registry is named. Nodes other than this one can only pull."""
    if node_count > 1 and not registry:
        raise SwarmError(
            f"a swarm of {node_count} nodes pulls its images from a registry: "
            'make deploy REGISTRY=host:port (README "Scaling out")'
        )
    engine.build(gpu=gpu, swarm=True)
    built = os.environ.get("TAG", "local")
    hashes = [
        docker(
            "image", "inspect", "-f", '{{index .Config.Labels "policycast.hash"}}', f"policycast-{s}:{built}"
        ).strip()
        for s in IMAGES
    ]
    tag = hashlib.sha256(" ".join(hashes).encode()).hexdigest()[:12]
    prefix = f"{registry.rstrip('/')}/" if registry else ""
    for s in IMAGES:
        docker("tag", f"policycast-{s}:{built}", f"{prefix}policycast-{s}:{tag}")
        if registry:
            print(f"swarm: pushing {prefix}policycast-{s}:{tag}", flush=True)
            docker("push", "--quiet", f"{prefix}policycast-{s}:{tag}")
        # earlier deploys' tags would keep every superseded image alive; one still in use stays (rm refuses)
        for old in docker("images", "--format", "{{.Repository}}:{{.Tag}}", f"{prefix}policycast-{s}").split():
            if re.fullmatch(r"[0-9a-f]{12}", old.rsplit(":", 1)[1]) and not old.endswith(f":{tag}"):
                subprocess.run(["docker", "image", "rm", old], capture_output=True)
    return {"TAG": tag, "REGISTRY_PREFIX": prefix}


def write_files(token: str) -> str:
    """The files compose.deploy.yaml makes secrets and configs of; returns their revision (SWARM_REV).

    SSH keys are made once and kept; the token is the one in .policycast.env."""
    SWARM_DIR.mkdir(parents=True, exist_ok=True)
    SWARM_DIR.chmod(0o700)
    for key in ("sync_key", "ssh_host_key"):
        if not (SWARM_DIR / key).exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"policycast-{key}", "-f", str(SWARM_DIR / key)],
                check=True,
            )

    def public(key: str) -> str:
        return " ".join((SWARM_DIR / f"{key}.pub").read_text().split()[:2])

    # The sync key can run one thing: a read-only rsync of the trainer's volume.
    settings.write_private(
        SWARM_DIR / "authorized_keys", f'restrict,command="rrsync -ro /trainer-runs" {public("sync_key")}\n'
    )
    settings.write_private(SWARM_DIR / "known_hosts", f"policycast-runs-ssh {public('ssh_host_key')}\n")
    settings.write_private(SWARM_DIR / "token", token)
    digest = hashlib.sha256()
    for path in [SWARM_DIR / n for n in ("token", "sync_key", "ssh_host_key", "authorized_keys", "known_hosts")]:
        digest.update(path.read_bytes())
    digest.update((ROOT / "docker/runs-ssh/ssh_config").read_bytes())
    return digest.hexdigest()[:12]


def load_state() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save_state(state: dict) -> None:
    settings.write_private(STATE, json.dumps(state, indent=1, sort_keys=True) + "\n")


# --- deploying ------------------------------------------------------------------------------------
def service_name(experiment: str) -> str:
    """A DNS-safe service name for an experiment's testers (stack prefix + name stay under 63 chars)."""
    return "tester-" + re.sub(r"[^a-z0-9]+", "-", experiment.lower()).strip("-")[:40]


def escaped(value):
    """`docker stack config` prints values interpolated: escape `$` so a deploy does not expand them again."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: escaped(v) for k, v in value.items()}
    return value


def experiment_service(experiment: str, n: int, task: str, env: dict, files: list[str]) -> dict:
    """The tester service for one named experiment: compose's tester as `docker stack config` resolves it
    with that experiment's variables (what `docker compose run` of the tester does under compose)."""
    out = docker(
        "stack",
        "config",
        *files,
        env={**env, "CHECKPOINT": experiment, "TESTER_TASK": task, "TESTER_PREFIX": experiment[:50]},
    )
    service = escaped(yaml.safe_load(out)["services"]["tester"])
    service["deploy"]["replicas"] = n
    service["deploy"].setdefault("labels", {})[EXPERIMENT_LABEL] = experiment
    return service


def stack_deploy(state: dict) -> None:
    env = {k: v for k, v in os.environ.items() if k != "POLICYCAST_TOKEN"}  # never into a service spec
    env.update(state["env"])
    files = [a for f in FILES + ([GPU_FILE] if state.get("gpu") else []) for a in ("-c", str(ROOT / f))]
    experiments = {
        service_name(name): experiment_service(name, n, task, env, files)
        for name, (n, task) in sorted(state.get("experiments", {}).items())
    }
    if experiments:
        path = SWARM_DIR / "experiments.yaml"
        path.write_text(
            "# written by make deploy / make testers: one tester service per named experiment\n"
            + yaml.safe_dump({"services": experiments}, sort_keys=False)
        )
        files += ["-c", str(path)]
    registry = bool(state["env"].get("REGISTRY_PREFIX"))
    args = ["--prune", "--detach", "--resolve-image", "always" if registry else "never"]
    args += ["--with-registry-auth"] if registry else []
    if subprocess.run(["docker", "stack", "deploy", *args, *files, STACK], env=env).returncode != 0:
        raise SwarmError("docker stack deploy failed (its message is above)")


def deploy(a, saved: dict[str, str]) -> None:
    """Check the swarm, build (and push) the images, write the secrets' files, deploy."""
    require_manager()
    ns = nodes()
    check_labels(ns)
    on = a.gpu == "1"  # GPU=auto or 0: no reservation (a swarm node's GPU is used only when asked)
    images = publish_images(a.registry, on, len(ns))
    rev = write_files(saved["POLICYCAST_TOKEN"])
    env = {
        **compose.service_env(a),
        **images,
        "STACK_NAME": STACK,
        "SWARM_FILES": str(SWARM_DIR.resolve()),
        "SWARM_REV": rev,
        "SYNC_SOURCE": "runs-ssh:/",
        "TESTERS": str(a.testers),
        "RELOAD_INTERVAL": saved["RELOAD_INTERVAL"],
    }
    state = {"env": env, "gpu": on, "experiments": load_state().get("experiments", {}) if running() else {}}
    stack_deploy(state)
    save_state(state)


def set_testers(experiment: str, n: int) -> None:
    """`latest`: the tester service's replicas; another experiment: a tester service of its own (none at 0)."""
    state = load_state()
    if not state:
        raise SwarmError(f"the stack {STACK} was not deployed from here (no {STATE}): run make deploy here first")
    # New testers start at the remembered interval (as under compose); testers whose spec that changes are
    # restarted by Swarm with it.
    state["env"]["RELOAD_INTERVAL"] = settings.load()["RELOAD_INTERVAL"]
    if experiment == "latest":
        state["env"]["TESTERS"] = str(n)
    elif n:
        state.setdefault("experiments", {})[experiment] = [n, settings.task_of(experiment)]
    else:
        state.get("experiments", {}).pop(experiment, None)
    stack_deploy(state)
    save_state(state)


def undeploy() -> None:
    """Remove the stack and wait until its containers are gone; volumes (runs included) stay."""
    if not running():
        print(f"stack: no swarm stack {STACK} here")
        return
    if subprocess.run(["docker", "stack", "rm", STACK]).returncode != 0:
        raise SwarmError("docker stack rm failed (its message is above)")
    # `stack rm` returns once the services are removed; their containers and network go seconds later
    # (its --detach=false did not wait for them here)
    label = f"label=com.docker.stack.namespace={STACK}"
    deadline = time.monotonic() + 120
    while docker("ps", "-aq", "--filter", label).split() or docker("network", "ls", "-q", "--filter", label).split():
        if time.monotonic() > deadline:
            raise SwarmError(
                f"the stack's containers or network are still there after 120 s: docker ps --filter {label}"
            )
        time.sleep(1)
    print(f"stack: {STACK} removed from the swarm (its volumes, runs included, are kept)")
    state = load_state()
    if state:
        state["experiments"] = {}
        save_state(state)


# --- looking at it --------------------------------------------------------------------------------
def services() -> list[str]:
    return docker("stack", "services", "--format", "{{.Name}}", STACK).split()


def ps(port: int) -> int:
    subprocess.run(["docker", "stack", "services", STACK])
    return subprocess.run(["docker", "stack", "ps", "--filter", "desired-state=running", STACK]).returncode


def logs(tail: int, follow: bool) -> int:
    """Every service's log (a stack has no log of its own), each line prefixed with its task."""
    procs = [
        subprocess.Popen(["docker", "service", "logs", "--tail", str(tail), *(["-f"] if follow else []), s])
        for s in services()
    ]
    try:
        return max((p.wait() for p in procs), default=0)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        return 130


# --- the verbs ------------------------------------------------------------------------------------
PUBLISHED = (
    "  published in host mode on every interface of the streamer's node (a manager): "
    "every control call needs the token\n"
)


def _one_line(target: str, step, *args) -> int:
    """Run a step; a refusal (or a failed docker command) as one line naming the make target."""
    try:
        step(*args)
    except (SwarmError, subprocess.CalledProcessError) as e:
        print(f"error: make {target}: {e}", file=sys.stderr)
        return 1
    return 0


def up(a, saved) -> int:
    """`make deploy`: deploy, then print the dashboard's URL once its streamer answers."""
    return _one_line("deploy", deploy, a, saved) or dashboard.announce(a.port, saved, PUBLISHED)


def down() -> int:
    """`make undeploy`."""
    return _one_line("undeploy", undeploy)


def testers(experiment: str, n: int) -> int:
    return _one_line("testers", set_testers, experiment, n)


# --- what a swarm leaves to its nodes -------------------------------------------------------------
def keep(experiment: str, undo: bool) -> int:
    verb = "unkeep" if undo else "keep"
    print(
        "error: make keep: on a swarm, run it on the training node: docker exec <trainer container> "
        f"python -m services.core.archive {verb} /trainer-runs {experiment}",
        file=sys.stderr,
    )
    return 1


def tensorboard(port: int) -> int:
    print(
        "error: make tensorboard: a swarm's volumes live on each node (the testers' evaluations on the "
        "testing nodes): run `tensorboard --logdir` on a node over its runs and tester-runs volumes",
        file=sys.stderr,
    )
    return 1
