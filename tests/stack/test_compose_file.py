"""compose.yaml as both engines resolve it: `docker compose config` (make up: + compose.up.yaml) and
`docker stack config` (make deploy: + compose.deploy.yaml). The services' sh entrypoints are run with a
stand-in `python` that prints its arguments, so the checks are on the command lines the containers run."""

import json
import subprocess

import pytest
import yaml

from services.stack import ROOT, compose, swarm

SWARM_VARS = {"STACK_NAME": "pc-test", "SWARM_REV": "0123abcd", "SWARM_FILES": "/nonexistent/swarm"}


def compose_config(tmp_path, profile=None, **env):
    """The services `make up` would run with these settings (and with that profile's services)."""
    env_file = tmp_path / "stack.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    profiles = ["--profile", profile] if profile else []
    done = compose.compose([*profiles, "config", "--format", "json"], env_file, env, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(done.stderr)
    # compose prints a file to be read again: `$$` is a literal `$` there
    return json.loads(done.stdout.replace("$$", "$"))["services"]


def stack_config(*files, **env):
    args = [a for f in files for a in ("-c", str(ROOT / f))]
    done = subprocess.run(
        ["docker", "stack", "config", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", **SWARM_VARS, **env},
    )
    if done.returncode != 0:
        pytest.fail(done.stderr)
    return yaml.safe_load(done.stdout)


def composed_config(args):
    """The config the tester composes from these arguments (as `python -m services.tester` would)."""
    from services.core.config import load_config

    return load_config([a for a in args[2:] if "=" in a], "test")


def argv(tmp_path, service):
    """What the container runs after `python`: the entrypoint shell run with the service's environment."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "python").write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done\n')
    (fake / "python").chmod(0o755)
    env = {
        **{k: str(v) for k, v in (service.get("environment") or {}).items()},
        "PATH": f"{fake}:/usr/bin:/bin",
        "HOSTNAME": "localhost",
    }
    out = subprocess.run(
        service["entrypoint"] + service.get("command", []), env=env, capture_output=True, text=True, check=True
    ).stdout
    return out.rstrip("\0").split("\0")


@pytest.fixture(scope="module")
def docker_cli():
    if subprocess.run(["docker", "stack", "config", "--help"], capture_output=True).returncode != 0:
        pytest.skip("no docker CLI with `docker stack config` (20.10 or newer)")


def test_hand_and_budget_reach_the_trainer_and_testers_only_when_given(tmp_path):
    plain = compose_config(tmp_path, TASK="BlindGrasping")
    trainer, tester = argv(tmp_path, plain["trainer"]), argv(tmp_path, plain["tester"])
    assert trainer[:3] == ["-m", "services.trainer", "task=BlindGrasping"]
    assert not [a for a in trainer + tester if a.startswith(("task.hand", "maxIterations"))]
    assert tester[:3] == ["-m", "services.tester", "task=BlindGrasping"]
    # tester-1, tester-2...: the replica's number, filled in by the tester at start (services/tester/identity.py)
    assert composed_config(tester).test.id == "tester-{replica}" and "checkpoint=latest" in tester

    given = compose_config(tmp_path, TASK="BlindGrasping", HAND="adroit", MAX_ITERATIONS="50", TESTER_TASK="Reach")
    trainer, tester = argv(tmp_path, given["trainer"]), argv(tmp_path, given["tester"])
    assert {"maxIterations=50", "task.hand=adroit"} <= set(trainer)
    assert "task.hand=adroit" in tester and tester[2] == "task=Reach"  # a named experiment's own task


def test_resume_continues_the_latest_run_only_when_there_is_one(tmp_path):
    trainer = compose_config(tmp_path, RESUME="1")["trainer"]
    assert trainer["environment"]["RESUME"] == "1"
    assert not any(a.startswith("checkpoint=") for a in argv(tmp_path, trainer))  # a fresh volume: a new run
    volume = tmp_path / "trainer-runs"  # the container's /trainer-runs, here
    (volume / "Reach_train_1").mkdir(parents=True)
    (volume / "latest_train").symlink_to("Reach_train_1")
    trainer["entrypoint"][2] = trainer["entrypoint"][2].replace("/trainer-runs/", f"{volume}/")
    assert "checkpoint=latest" in argv(tmp_path, trainer)
    trainer["environment"]["RESUME"] = ""
    assert not any(a.startswith("checkpoint=") for a in argv(tmp_path, trainer))


def test_both_engines_run_the_same_command_lines(tmp_path, docker_cli):
    env = {"TASK": "BlindGrasping", "HAND": "adroit", "MAX_ITERATIONS": "50", "RELOAD_INTERVAL": "7"}
    local = compose_config(tmp_path, **env)
    stacked = stack_config("compose.yaml", "compose.deploy.yaml", **env)["services"]
    for name in ("trainer", "tester", "streamer"):
        assert argv(tmp_path, stacked[name]) == argv(tmp_path, local[name]), name
    assert stacked["sync"]["command"] == local["sync"]["command"]
    assert "reloadInterval=7" in stacked["tester"]["command"]


def test_gpu_training_reserves_a_gpu_on_both_engines(tmp_path, docker_cli):
    """Written for CUDA hosts, not run here: the definitions at least resolve to what each engine needs."""
    gpu = compose_config(tmp_path, "gpu", DEVICE="cuda:0")["trainer-gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert gpu["init"] is True and "device=cuda:0" in argv(tmp_path, gpu)  # the trainer, extended
    stacked = stack_config(*swarm.FILES, swarm.GPU_FILE, DEVICE="cuda:0")["services"]["trainer"]
    assert stacked["deploy"]["resources"]["reservations"]["generic_resources"] == [
        {"discrete_resource_spec": {"kind": "NVIDIA-GPU", "value": 1}}
    ]
    assert stacked["deploy"]["placement"]["constraints"] == ["node.labels.policycast.train == true"]


def test_swarm_testers_are_numbered_by_their_task_slot(docker_cli):
    tester = stack_config("compose.yaml", "compose.deploy.yaml")["services"]["tester"]
    assert tester["environment"]["TESTER_SLOT"] == "{{.Task.Slot}}"


def test_sync_metrics_and_tensorboard_are_published_on_127_0_0_1_only(tmp_path):
    """Prometheus scrapes sync where it is reachable (docs/prometheus.yml); `make tensorboard` runs a service
    of its own (a profile: `make up` does not start it) over the mirror and the testers' volume."""
    services = compose_config(tmp_path, STREAM_BIND="0.0.0.0", SYNC_PORT="40090", TB_PORT="40006")
    assert [(p["host_ip"], p["published"], p["target"]) for p in services["sync"]["ports"]] == [
        ("127.0.0.1", "40090", 58090)
    ]
    assert "tensorboard" not in services  # not in `make up`'s services
    tb = compose_config(tmp_path, "tensorboard", TB_PORT="40006")["tensorboard"]
    assert [(p["host_ip"], p["published"], p["target"]) for p in tb["ports"]] == [("127.0.0.1", "40006", 6006)]
    assert sorted((v["source"], v["target"], v.get("read_only")) for v in tb["volumes"]) == [
        ("runs", "/tb/train", True),
        ("tester-runs", "/tb/testers", True),
    ]


def test_the_base_file_alone_is_a_valid_stack_file(docker_cli):
    """`docker stack deploy` validates each -c file on its own: compose.yaml must pass by itself."""
    assert set(stack_config("compose.yaml")["services"]) == {"trainer", "sync", "tester", "streamer"}


def test_on_the_swarm_the_token_is_a_secret_never_an_environment_variable(docker_cli):
    config = stack_config("compose.yaml", "compose.deploy.yaml", POLICYCAST_TOKEN="sekrit-token-value")
    assert "sekrit-token-value" not in yaml.safe_dump(config)
    for name in ("tester", "streamer"):
        assert [s["target"] for s in config["services"][name]["secrets"]] == ["policycast_token"]
    # immutable in Swarm, so named by revision: new keys or a new token roll the services
    assert config["secrets"]["token"] == {"name": "pc-test_token_0123abcd", "file": "/nonexistent/swarm/token"}


def test_experiment_testers_are_the_tester_service_with_that_experiment(tmp_path, docker_cli):
    files = [a for f in swarm.FILES for a in ("-c", str(ROOT / f))]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", **SWARM_VARS, "TASK": "BlindGrasping", "TESTERS": "3"}
    service = swarm.experiment_service("Reach_train_20261125_205530", 2, "Reach", env, files)
    assert service["deploy"]["replicas"] == 2
    assert service["deploy"]["labels"] == {swarm.EXPERIMENT_LABEL: "Reach_train_20261125_205530"}
    # the shell's own `$` survive a second interpolation by `docker stack deploy`
    assert "$${TESTER_TASK:-$$TASK}" in service["entrypoint"][2]
    unescaped = yaml.safe_load(yaml.safe_dump(service).replace("$$", "$"))
    args = argv(tmp_path, unescaped)
    assert args[2] == "task=Reach" and "checkpoint=Reach_train_20261125_205530" in args
    assert composed_config(args).test.id == "Reach_train_20261125_205530-{replica}"
    assert unescaped["environment"]["TESTER_SLOT"] == "{{.Task.Slot}}"  # Swarm's slot: <experiment>-1, -2
    assert swarm.service_name("Reach_train_20261125_205530") == "tester-reach-train-20261125-205530"


def test_3d_views_are_relayed_on_127_0_0_1_unless_their_own_opt_in(tmp_path):
    """Testers publish nothing; the streamer relays their 3D views on a port range, 1:1, on the host's
    127.0.0.1 — also when the dashboard is opened to the network (STREAM_BIND), since the viewer has no
    authentication: only VIEW3D_BIND=0.0.0.0 opens them."""

    def relay_ports(services):
        return [
            (p["host_ip"], int(p["published"]), p["target"])
            for p in services["streamer"]["ports"]
            if p["target"] != 58080
        ]

    plain = compose_config(tmp_path, STREAM_BIND="0.0.0.0")
    assert plain["tester"].get("ports") is None
    assert "test.view3d.enabled=true" in plain["tester"]["command"]
    assert relay_ports(plain) == [("127.0.0.1", p, p) for p in range(58201, 58217)]
    assert plain["streamer"]["command"][-2:] == ["--view3d-relay", "58201-58216"]
    opened = compose_config(tmp_path, VIEW3D_BIND="0.0.0.0", VIEW3D_PORTS="40001-40002")
    assert relay_ports(opened) == [("0.0.0.0", 40001, 40001), ("0.0.0.0", 40002, 40002)]
    assert opened["streamer"]["command"][-2:] == ["--view3d-relay", "40001-40002"]
