"""The seed-compatible `train.py` as a user runs it: real processes, real ports."""
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


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
