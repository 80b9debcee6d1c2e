"""compose.yaml as `docker compose config` resolves it: the optional arguments `make up` passes."""
import json
import subprocess

import pytest

from services.stack import compose


def resolved(tmp_path, **env):
    env_file = tmp_path / "stack.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    done = compose.compose(["config", "--format", "json"], env_file, env, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(done.stderr)
    return json.loads(done.stdout)["services"]


def test_hand_and_budget_reach_the_trainer_and_testers_only_when_given(tmp_path):
    plain = resolved(tmp_path, TASK="BlindGrasping")
    assert "task.hand" not in " ".join(plain["trainer"]["entrypoint"] + plain["tester"]["entrypoint"])
    assert "maxIterations" not in " ".join(plain["trainer"]["entrypoint"])
    given = resolved(tmp_path, TASK="BlindGrasping", HAND="adroit", MAX_ITERATIONS="50")
    assert "task.hand=adroit" in given["trainer"]["entrypoint"][2] and "maxIterations=50" in given["trainer"]["entrypoint"][2]
    assert "task.hand=adroit" in given["tester"]["entrypoint"][2]


def test_3d_views_are_relayed_on_127_0_0_1_unless_their_own_opt_in(tmp_path):
    """Testers publish nothing; the streamer relays their 3D views on a port range, 1:1, on the host's
    127.0.0.1 — also when the dashboard is opened to the network (STREAM_BIND), since the viewer has no
    authentication: only VIEW3D_BIND=0.0.0.0 opens them."""
    def relay_ports(services):
        return [(p["host_ip"], int(p["published"]), p["target"]) for p in services["streamer"]["ports"]
                if p["target"] != 58080]

    plain = resolved(tmp_path, STREAM_BIND="0.0.0.0")
    assert plain["tester"].get("ports") is None
    assert "test.view3d.enabled=true" in plain["tester"]["command"]
    assert relay_ports(plain) == [("127.0.0.1", p, p) for p in range(58201, 58217)]
    assert plain["streamer"]["command"][-2:] == ["--view3d-relay", "58201-58216"]
    opened = resolved(tmp_path, VIEW3D_BIND="0.0.0.0", VIEW3D_PORTS="40001-40002")
    assert relay_ports(opened) == [("0.0.0.0", 40001, 40001), ("0.0.0.0", 40002, 40002)]
    assert opened["streamer"]["command"][-2:] == ["--view3d-relay", "40001-40002"]
