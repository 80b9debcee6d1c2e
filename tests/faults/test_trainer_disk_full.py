"""The trainer's disk fills up while it saves: one clear line, a non-zero exit, every earlier checkpoint
whole, and no temporary file left beside them."""

import hashlib
import subprocess
import time

from services.core.checkpoints import load_checkpoint
from services.core.cli import command
from tests.disk import fill_up
from tests.processes import start
from tests.waiting import wait_for


def test_a_full_disk_stops_training_with_one_line_and_loses_no_checkpoint(small_disk):
    runs = small_disk("24m") / "runs"
    cmd = command("trainer", "train.saveFrequency=1", task="Reach", numEnvs=8, maxIterations=100000, runsDir=runs)
    proc = start(cmd, stderr=subprocess.STDOUT)
    try:

        def saved():
            assert proc.poll() is None, proc.stdout.read()
            return sorted(runs.glob("*_train_*/nn/last_*.pth"))

        wait_for(lambda: len(saved()) >= 3, 120, step=0.1, what="three periodic checkpoints")
        nn = saved()[0].parent
        fill_up(runs.parent)
        filled_at = time.monotonic()
        kept = {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in nn.glob("*.pth")}
        rc = proc.wait(timeout=120)
        out = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"trainer stopped {time.monotonic() - filled_at:.1f} s after the disk filled; rc {rc}")

    assert rc == 1, out[-3000:]
    lines = [line for line in out.splitlines() if "disk full" in line]
    assert len(lines) == 1, out[-3000:]
    assert " ERROR " in lines[0] and "No space left on device" in lines[0] and "checkpoint=latest" in lines[0]
    assert "Traceback" not in out and "Logging error" not in out, out[-3000:]
    # every checkpoint saved before is whole (the best file may have been replaced whole, by rename)
    for name, digest in kept.items():
        path = nn / name
        assert load_checkpoint(path)["model"], name
        if name.startswith("last_"):
            assert hashlib.sha1(path.read_bytes()).hexdigest() == digest, name
    assert not [p.name for p in nn.iterdir() if p.name.startswith(".")], "a temporary file was left behind"
