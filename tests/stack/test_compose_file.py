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
