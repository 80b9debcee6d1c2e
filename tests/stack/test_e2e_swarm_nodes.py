"""The stack on a two-node swarm on one machine: this engine (manager, policycast.train) and a second engine
in a network namespace of its own (policycast.test; tests/stack/second_engine.py). `make deploy
REGISTRY=...` pushes the images to a registry built from Debian's package; the second node pulls the
tester and sync images from it, and its tester plays checkpoints the trainer writes on the first node
(carried by sync over SSH), its frames reaching the streamer on the first node."""

import os

import pytest

from services.stack import ROOT
from services.stack.engine import pick_base

from . import second_engine
from .e2e import UP_ARGS, Stack, docker, free_port, require_engine, stack_objects, swarm_state

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1500)]


def containers(engine_docker, project, service):
    out = engine_docker(
        "ps", "-q", "--no-trunc", "--filter", f"label=com.docker.swarm.service.name={project}_{service}"
    )
    return out.stdout.split()


@pytest.fixture
def two_node_swarm(tmp_path):
    require_engine()
    if why := second_engine.missing():
        if os.environ.get("POLICYCAST_REQUIRE_DOCKER"):
            pytest.fail(f"a second engine on this machine {why}, and POLICYCAST_REQUIRE_DOCKER is set (CI)")
        pytest.skip(f"a second engine on this machine {why}")
    if swarm_state() != "inactive":
        pytest.skip("this engine is already in a swarm: the test makes and leaves one of its own")
    port = free_port()
    # no registry image can be pulled: build one from Debian's package on the stack's own base
    built = docker(
        "build",
        "-q",
        "--network",
        "host",
        "--build-arg",
        f"BASE={pick_base()}",
        "-t",
        "policycast-registry:local",
        str(ROOT / "docker/registry"),
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    node = second_engine.SecondEngine(tmp_path / "node2-dockerd.log", port)
    had_gwbridge = docker("network", "inspect", "docker_gwbridge").returncode == 0
    registry = f"pc-registry-{os.getpid()}"
    try:
        node.start()
        init = docker("swarm", "init", "--advertise-addr", second_engine.HOST_IP)
        assert init.returncode == 0, init.stderr
        node.join(docker("swarm", "join-token", "-q", "worker").stdout.strip())
        this = docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
        assert docker("node", "update", "--label-add", "policycast.train=true", this).returncode == 0
        assert docker("node", "update", "--label-add", "policycast.test=true", node.node_id).returncode == 0
        started = docker(
            "run",
            "-d",
            "--name",
            registry,
            "--tmpfs",
            "/var/lib/docker-registry",
            "-p",
            f"127.0.0.1:{port}:5000",
            "-p",
            f"{second_engine.HOST_IP}:{port}:5000",
            "policycast-registry:local",
        )
        assert started.returncode == 0, started.stderr
        yield node, f"127.0.0.1:{port}"
    finally:
        node.stop()
        docker("rm", "-f", registry)
        docker("swarm", "leave", "--force")
        if not had_gwbridge:
            docker("network", "rm", "docker_gwbridge")


def test_a_tester_on_a_second_node_plays_checkpoints_trained_on_the_first(tmp_path, two_node_swarm):
    node, registry = two_node_swarm
    project = f"pc-nodes-{os.getpid()}"
    stack = Stack(tmp_path, COMPOSE_PROJECT_NAME=project)
    try:
        # training goes on until undeploy (Reach's own budget can end before the second node's tester has
        # pulled its image and started: it would play the last checkpoint and never reload one)
        done = stack.make("deploy", *UP_ARGS, "MAX_ITERATIONS=100000", f"REGISTRY={registry}", timeout=1200)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"swarm: pushing {registry}/policycast-tester:" in done.stdout

        playing = stack.wait(
            "a tester that reloaded a trained checkpoint",
            lambda: [t for t in stack.online() if t.get("checkpoint") and t.get("reloads", 0) >= 1],
            timeout=600,
        )
        # placement: trainer and runs-ssh here, sync and the tester on the second node only
        assert containers(docker, project, "trainer") and containers(docker, project, "runs-ssh")
        assert not containers(docker, project, "tester") and not containers(docker, project, "sync")
        on_node2 = containers(node.docker, project, "tester")
        assert len(on_node2) == 1 and containers(node.docker, project, "sync")
        # the tile is that replica: the service's task slot 1
        assert playing[0]["id"] == "tester-1"
        assert playing[0]["checkpoint"].startswith("Reach_train_")
        images = stack.stream_images(2)
        assert len(images) >= 2 and all(im.std() > 0 for im in images), "no frames from the second node"

        done = stack.make("undeploy", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert stack_objects(project) == {}
        # Swarm removes a worker's containers after the services are gone, asynchronously
        stack.wait(
            "the second node's containers removed after make undeploy",
            lambda: (
                node.docker("ps", "-aq", "--filter", f"label=com.docker.stack.namespace={project}").stdout.split() == []
            ),
            timeout=120,
        )
    except BaseException:
        print(stack.make("logs", "FOLLOW=0", timeout=120).stdout[-6000:])
        raise
    finally:
        stack.make("undeploy", timeout=300)
        docker("volume", "rm", "-f", f"{project}_trainer-runs")
        pushed = docker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={registry}/*")
        for image in pushed.stdout.split():
            docker("image", "rm", image)
