"""The stack on Docker Swarm: a single-node swarm of this machine's engine (`docker swarm init`, left at the
end), driven through make: deploy, tiles with frames of a real checkpoint, two testers, a live reload
interval on both, a tester service for one experiment, undeploy with nothing left running."""

import json
import os

import pytest
import requests

from .e2e import UP_ARGS, Stack, docker, require_engine, stack_objects, swarm_state, volume_checkpoints

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1500)]


def task_ids(service):
    return docker("service", "ps", "-q", service).stdout.split()


def env_of(service):
    return json.loads(
        docker("service", "inspect", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}", service).stdout
    )


@pytest.fixture
def single_node_swarm():
    require_engine()
    if swarm_state() != "inactive":
        pytest.skip("this engine is already in a swarm: the test makes and leaves one of its own")
    had_gwbridge = docker("network", "inspect", "docker_gwbridge").returncode == 0
    init = docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    assert init.returncode == 0, init.stderr
    try:
        yield
    finally:
        docker("swarm", "leave", "--force")
        if not had_gwbridge:  # made by `swarm init`, and left behind by `swarm leave`
            docker("network", "rm", "docker_gwbridge")


def test_make_deploy_on_a_single_node_swarm(tmp_path, single_node_swarm):
    project = f"pc-swarm-{os.getpid()}"
    stack = Stack(tmp_path, COMPOSE_PROJECT_NAME=project)
    try:
        done = stack.make("deploy", *UP_ARGS, timeout=1200)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"dashboard: {stack.url}" in done.stdout
        assert "labelled it policycast.train=true and policycast.test=true" in done.stdout
        assert "Ignoring unsupported options" not in done.stdout + done.stderr  # the files fit Swarm as they are
        trainer = task_ids(f"{project}_trainer")

        # checkpoints crossed from the trainer's volume into runs over SSH (sync pulls from runs-ssh)
        stack.wait("checkpoints in the runs volume", lambda: volume_checkpoints(f"{project}_runs"))
        first = stack.wait(
            "a tile on a real checkpoint that reloaded",
            lambda: [t for t in stack.online() if t.get("checkpoint") and t.get("reloads", 0) >= 1],
        )
        assert first[0]["checkpoint"].startswith("Reach_train_")
        images = stack.stream_images(2)
        assert len(images) >= 2 and all(im.std() > 0 for im in images), "no frames on /stream"

        # the token is a Swarm secret: in no service's environment, and still required by the streamer
        assert not [e for s in ("streamer", "tester") for e in env_of(f"{project}_{s}") if "TOKEN" in e]
        refused = requests.put(stack.url + "/api/reload-interval", json={"seconds": 5}, timeout=10)
        assert refused.status_code == 401

        done = stack.make("testers", "EXPERIMENT=latest", "N=2", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        two = stack.wait("two testers online", lambda: (ts := stack.online()) and len(ts) == 2 and ts)
        assert sorted(t["id"] for t in two) == ["tester-1", "tester-2"]  # Swarm's task slots
        done = stack.make("reload-interval=60", timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "reload-interval=60 s set on 2 tester(s)" in done.stdout
        assert all(t["reload_interval"] == 60 for t in stack.online())

        # a named experiment gets a service of its own; N=0 removes it
        experiment = first[0]["experiment"]
        done = stack.make("testers", f"EXPERIMENT={experiment}", "N=1", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        stack.wait(
            "a tester of the experiment's own service",
            lambda: [
                t
                for t in stack.online()
                if t["id"].startswith(experiment) and t["experiment"] == experiment and t["reload_interval"] == 60
            ],
        )
        ps = stack.make("ps", timeout=60)
        assert f"{project}_tester-" in ps.stdout and f"{project}_runs-ssh" in ps.stdout, ps.stdout
        done = stack.make("testers", f"EXPERIMENT={experiment}", "N=0", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert not [s for s in docker("service", "ls", "--format", "{{.Name}}").stdout.split() if "_tester-" in s]
        # every change redeployed the stack file: unchanged services kept running (no new experiment)
        assert task_ids(f"{project}_trainer") == trainer

        done = stack.make("undeploy", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert stack_objects(project) == {}, "something of the stack outlived make undeploy"
        assert volume_checkpoints(f"{project}_runs"), "the runs volume lost its checkpoints"
    except BaseException:
        print(stack.make("logs", "FOLLOW=0", timeout=120).stdout[-6000:])
        raise
    finally:
        stack.make("undeploy", timeout=300)
        for v in ("runs", "trainer-runs", "tester-runs"):
            docker("volume", "rm", "-f", f"{project}_{v}")
