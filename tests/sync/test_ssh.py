"""Mirroring from `root@127.0.0.1:/…/runs/` through a real sshd started here (temporary keys)."""
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.sync.helpers import free_port, make_experiment, run_once, wait_for

SSHD = "/usr/sbin/sshd"


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "policycast-test", "-f", str(path)],
                   check=True, timeout=30)
    return (path.with_suffix(".pub")).read_text().strip()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An sshd on 127.0.0.1:<free port> that accepts only a fresh user key; yields its connection files."""
    if not os.path.exists(SSHD):
        pytest.skip(f"{SSHD} not installed (Debian: apt-get install openssh-server)")
    d = tmp_path_factory.mktemp("sshd")
    host_pub = keygen(d / "host_key")
    user_pub = keygen(d / "user_key")
    (d / "authorized_keys").write_text(user_pub + "\n")
    port = free_port()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(host_pub.split()[:2])}\n")
    (d / "sshd_config").write_text("\n".join([
        "ListenAddress 127.0.0.1", f"HostKey {d / 'host_key'}", f"PidFile {d / 'sshd.pid'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}",
        "StrictModes no", "UsePAM no", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "LogLevel ERROR",
    ]) + "\n")
    # sshd refuses to start as root without its privilege-separation dir (Debian's init makes it).
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config"), "-p", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def listening():
            if proc.poll() is not None:
                raise AssertionError(f"sshd exited: {proc.stdout.read()}")
            return subprocess.run(["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True,
                                  timeout=10).returncode == 0
        wait_for(listening, timeout=15, step=0.1, what="sshd to listen")
        yield {"port": port, "identity": d / "user_key", "known_hosts": d / "known_hosts", "dir": d}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ssh_args(sshd, known_hosts=None):
    return ["--ssh-port", sshd["port"], "--identity", sshd["identity"],
            "--known-hosts", known_hosts or sshd["known_hosts"]]


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
    code, health = sync.health()
    assert code == 200 and health["files_transferred"] == 4 and health["wire_bytes"] > 250_000
    assert sync.stop()[0] == 0


def test_unknown_host_key_is_refused(tmp_path, sshd):
    src = tmp_path / "remote" / "runs"
    make_experiment(src, "Reach_train_1", {"Reach.pth": b"w"})
    other = tmp_path / "other_known_hosts"
    wrong_key = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                               check=True) and (tmp_path / "k.pub").read_text().split()[:2]
    other.write_text(f"[127.0.0.1]:{sshd['port']} {' '.join(wrong_key)}\n")

    done = run_once("--source", f"root@127.0.0.1:{src}/", "--dest", tmp_path / "dst", *ssh_args(sshd, other))
    assert done.returncode == 1
    error = [l for l in done.stderr.splitlines() if "pass failed" in l][0]
    assert "HOST IDENTIFICATION HAS CHANGED" in error and "Host key verification failed" in error, error
    assert not (tmp_path / "dst" / "Reach_train_1").exists()


def test_ssh_transfer_killed_midway_resumes_from_the_kept_part(tmp_path, sshd, sync_process):
    src, dst = tmp_path / "remote" / "runs", tmp_path / "dst"
    size = 6 * 1024 * 1024
    big = os.urandom(size)
    make_experiment(src, "Reach_train_1", {"Reach.pth": big})
    nn = dst / "Reach_train_1" / "nn"
    sync = sync_process("--source", f"root@127.0.0.1:{src}/", "--dest", dst, "--interval", "600",
                        "--bwlimit", "3000", *ssh_args(sshd))

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
