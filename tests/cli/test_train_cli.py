"""The seed-compatible `train.py` as a user runs it: real processes, real ports."""

import socket

from services.core.cli import command
from tests.processes import run


def run_cli(*args, timeout=120):
    return run(command("train", *args), timeout=timeout)


def test_help_lists_presets_tasks_and_aliases():
    done = run_cli("--help")
    assert done.returncode == 0
    for word in ("train_headless", "test_stream", "BlindGrasping", "Reach", "reloadInterval=", "streamPort="):
        assert word in done.stdout


def test_bad_value_is_refused_with_the_key_name_before_anything_starts(tmp_path):
    done = run_cli("config=test", "reloadInterval=-1", f"runsDir={tmp_path}")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "reloadInterval" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_busy_stream_port_is_one_line_naming_the_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli("config=test_stream", f"streamPort={port}", f"runsDir={tmp_path}")
    assert done.returncode == 2
    assert f"streamPort={port}" in done.stderr and "in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_cfg_job_prints_the_composed_config_and_starts_nothing(tmp_path):
    """Hydra's `--cfg job`: the configuration the overrides compose, as YAML, exit 0, no run created."""
    import yaml

    done = run_cli("config=test_record", "--cfg", "job", "numEnvs=3", "test.clips.keep=5", f"runsDir={tmp_path}")
    assert done.returncode == 0, done.stderr
    cfg = yaml.safe_load(done.stdout)
    assert cfg["mode"] == "test" and cfg["env"]["numEnvs"] == 3 and cfg["runsDir"] == str(tmp_path)
    assert cfg["test"]["clips"] == {**cfg["test"]["clips"], "every": "episode", "keep": 5}
    assert cfg["test"]["numEnvs"] == "${env.numEnvs}"  # as Hydra prints it: interpolations kept...
    resolved = yaml.safe_load(run_cli("config=test", "--cfg=job", "--resolve", "numEnvs=3").stdout)
    assert resolved["test"]["numEnvs"] == 3  # ...unless --resolve
    kept = yaml.safe_load(run_cli("config=train_headless", "--cfg", "job", "train.keep.budgetGB=0.5").stdout)
    assert kept["train"]["keep"] == {**kept["train"]["keep"], "enabled": True, "budgetGB": 0.5, "recentMinutes": 10}
    assert kept["runs"] == {"keep": 10}  # retention and the archive, on by default
    assert list(tmp_path.iterdir()) == []
    for args, named in (
        (("--cfg", "hydra"), "--cfg hydra"),
        (("--resolve",), "--resolve"),
        (("--cfg", "job", "numEnvs=0"), "numEnvs"),
    ):
        refused = run_cli(*args)
        assert refused.returncode == 2 and refused.stderr.startswith(f"error: {named}"), refused.stderr
        assert refused.stderr.count("\n") == 1
