"""Mirroring from `root@127.0.0.1:/…/runs/` through a real sshd started here (temporary keys)."""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.sync.helpers import Sshd, make_experiment, run_once, wait_for


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An sshd on 127.0.0.1:<free port> that accepts only a fresh user key; yields its connection files."""
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server.info()
    finally:
        server.stop()


def ssh_args(sshd, known_hosts=None):
    return [
        "--ssh-port",
        sshd["port"],
        "--identity",
        sshd["identity"],
        "--known-hosts",
        known_hosts or sshd["known_hosts"],
    ]


def digest(p: Path) -> str:
    return hashlib.sha1(p.read_bytes()).hexdigest()


def test_ssh_source_mirrors_runs_with_relative_links(tmp_path, sshd, sync_process):
    src, dst = tmp_path / "remote" / "runs", tmp_path / "dst"
    make_experiment(src, "Reach_train_1", {"Reach.pth": os.urandom(200_000)})
    (src / "Reach_train_1" / "nn" / ".last_Reach_ep_9_rew_1.pth.1a2b.tmp").write_bytes(b"partial")

    sync = sync_process("--source", f"root@127.0.0.1:{src}/", "--dest", dst, "--interval", "0.5", *ssh_args(sshd))
    wait_for(lambda: os.path.lexists(dst / "latest_train"), what="the first pass over ssh")
    assert os.readlink(dst / "latest_train") == "Reach_train_1"
    assert digest(dst / "latest_train" / "nn" / "Reach.pth") == digest(src / "Reach_train_1" / "nn" / "Reach.pth")
    assert sorted(p.name for p in (dst / "Reach_train_1" / "nn").iterdir()) == ["Reach.pth"]

    # A new experiment on the server: the interval pass brings it, files before the link.
    make_experiment(src, "Reach_train_2", {"last_Reach_ep_3_rew_2.pth": os.urandom(50_000)})
    wait_for(lambda: os.readlink(dst / "latest_train") == "Reach_train_2", what="the new latest_train")
    assert (dst / "latest_train" / "nn" / "last_Reach_ep_3_rew_2.pth").stat().st_size == 50_000
    # The link lands inside the pass; its stats are recorded when the pass ends.
    code, health = wait_for(lambda: (h := sync.health())[1]["files_transferred"] >= 4 and h, what="the pass's stats")
    assert code == 200 and health["files_transferred"] == 4 and health["wire_bytes"] > 250_000
    assert sync.stop()[0] == 0


def test_unknown_host_key_is_refused(tmp_path, sshd):
    src = tmp_path / "remote" / "runs"
    make_experiment(src, "Reach_train_1", {"Reach.pth": b"w"})
    other = tmp_path / "other_known_hosts"
    wrong_key = (
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
        and (tmp_path / "k.pub").read_text().split()[:2]
    )
    other.write_text(f"[127.0.0.1]:{sshd['port']} {' '.join(wrong_key)}\n")

    done = run_once("--source", f"root@127.0.0.1:{src}/", "--dest", tmp_path / "dst", *ssh_args(sshd, other))
    assert done.returncode == 1
    error = [line for line in done.stderr.splitlines() if "pass failed" in line][0]
    assert "HOST IDENTIFICATION HAS CHANGED" in error and "Host key verification failed" in error, error
    assert not (tmp_path / "dst" / "Reach_train_1").exists()


def test_ssh_transfer_killed_midway_resumes_from_the_kept_part(tmp_path, sshd, sync_process):
    src, dst = tmp_path / "remote" / "runs", tmp_path / "dst"
    size = 6 * 1024 * 1024
    big = os.urandom(size)
    make_experiment(src, "Reach_train_1", {"Reach.pth": big})
    nn = dst / "Reach_train_1" / "nn"
    sync = sync_process(
        "--source", f"root@127.0.0.1:{src}/", "--dest", dst, "--interval", "600", "--bwlimit", "3000", *ssh_args(sshd)
    )

    def temp_file_size():
        temps = [p for p in nn.iterdir() if p.name.startswith(".Reach.pth.")] if nn.is_dir() else []
        return temps and temps[0].stat().st_size

    wait_for(lambda: (temp_file_size() or 0) > size // 3, step=0.01, what="a third of the file in DST")
    for pid in sync.rsync_children():
        os.kill(pid, 9)

    wait_for(lambda: (nn / "Reach.pth").exists(), timeout=30, what="the retried pass")
    assert (nn / "Reach.pth").read_bytes() == big
    health = wait_for(lambda: (h := sync.health()[1])["passes"]["ok"] >= 1 and h, what="the pass recorded")
    assert health["passes"]["error"] >= 1
    # Only the successful (resumed) pass is counted: it sent the rest of the file, not all of it.
    assert health["wire_bytes"] < 0.8 * size, health
    assert sorted(p.name for p in nn.iterdir()) == ["Reach.pth"]
    assert sync.stop()[0] == 0
