"""Local-directory mirroring with the real service and real rsync."""

import hashlib
import os
import signal
import socket

from services.core.checkpoints import is_checkpoint_name
from tests.sync.helpers import make_experiment, run_once, wait_for, write_atomic


def tree(root):
    """{relative path: sha1 or '-> target'} of everything under root, links not followed."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            elif os.path.isfile(p):
                out[rel] = hashlib.sha1(open(p, "rb").read()).hexdigest()
    return out


def test_once_mirrors_files_and_keeps_links_relative_without_temp_files(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_experiment(src, "Reach_train_1", {"Reach.pth": os.urandom(3000), "last_Reach_ep_3_rew_1.pth": b"x" * 10})
    make_experiment(src, "Reach_test_1", {}, link="latest_test")
    (src / "Reach_train_1" / "nn" / ".Reach.pth.abc123.tmp").write_bytes(b"half a checkpoint")
    (src / "Reach_train_1" / "summaries").mkdir()
    os.symlink("../nn/Reach.pth", src / "Reach_train_1" / "summaries" / "best")

    done = run_once("--source", src, "--dest", dst)

    assert done.returncode == 0, done.stderr
    expected = {k: v for k, v in tree(src).items() if not k.endswith(".tmp")}
    assert tree(dst) == expected  # same bytes, links as links with the same (relative) text
    assert os.readlink(dst / "latest_train") == "Reach_train_1"
    assert (dst / "latest_train" / "nn" / "Reach.pth").read_bytes() == (
        src / "Reach_train_1" / "nn" / "Reach.pth"
    ).read_bytes()
    assert "pass: 4 files" in done.stderr  # the log line of a pass that moved something


def test_nothing_deleted_unless_delete_is_given(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_experiment(src, "Reach_train_1", {"a.pth": b"a"})
    assert run_once("--source", src, "--dest", dst).returncode == 0
    (dst / "mine.txt").write_text("a user's own file in DST")
    (src / "Reach_train_1" / "nn" / "a.pth").unlink()
    (src / "latest_train").unlink()

    assert run_once("--source", src, "--dest", dst).returncode == 0
    assert (dst / "Reach_train_1" / "nn" / "a.pth").exists()
    assert (dst / "mine.txt").exists() and os.path.islink(dst / "latest_train")

    done = run_once("--source", src, "--dest", dst, "--delete")
    assert done.returncode == 0, done.stderr
    assert not (dst / "Reach_train_1" / "nn" / "a.pth").exists()
    assert not (dst / "mine.txt").exists() and not os.path.lexists(dst / "latest_train")


def test_bad_arguments_exit_2_with_one_line(tmp_path):
    (tmp_path / "src").mkdir()
    cases = [
        (["--source", tmp_path / "nope", "--dest", tmp_path / "d"], "no such directory"),
        (["--source", tmp_path / "src", "--dest", tmp_path / "d", "--interval", "0"], "--interval"),
        (["--source", tmp_path / "src", "--dest", tmp_path / "d", "--identity", "k"], "remote source"),
        (
            ["--source", "root@127.0.0.1:/runs/", "--dest", tmp_path / "d", "--known-hosts", tmp_path / "nokh"],
            "--known-hosts",
        ),
    ]
    for args, needle in cases:
        done = run_once(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert needle in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "d").exists()


def test_metrics_port_taken_is_a_start_error(tmp_path):
    (tmp_path / "src").mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_once("--source", tmp_path / "src", "--dest", tmp_path / "d", "--metrics-port", port)
    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines()[-1]
        == f"sync: error: --metrics-port {port}: cannot listen on 127.0.0.1: Address already in use"
    )


def test_missing_rsync_is_one_clear_line(tmp_path):
    (tmp_path / "src").mkdir()
    done = run_once("--source", tmp_path / "src", "--dest", tmp_path / "d", env={**os.environ, "PATH": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip() == "sync: error: 'rsync' not found on PATH (Debian/Ubuntu: apt-get install rsync)"


def test_file_event_triggers_a_pass_and_metrics_count_it(tmp_path, sync_process):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_experiment(src, "Reach_train_1", {"a.pth": b"first"})
    # An interval far beyond the test: only the file event can bring the new checkpoint.
    sync = sync_process("--source", src, "--dest", dst, "--interval", "600", "--debounce", "0.2")
    wait_for(lambda: (dst / "Reach_train_1" / "nn" / "a.pth").exists(), what="the first pass")
    wait_for(lambda: sync.health()[1]["passes"]["ok"] >= 1, what="the first pass recorded")

    write_atomic(src / "Reach_train_1" / "nn" / "last_Reach_ep_5_rew_1.pth", b"y" * 5000)
    wait_for(lambda: (dst / "Reach_train_1" / "nn" / "last_Reach_ep_5_rew_1.pth").exists(), what="event-triggered pass")

    code, health = wait_for(lambda: (h := sync.health())[1]["files_transferred"] >= 3 and h, what="stats")
    assert code == 200 and health["status"] == "ok" and health["consecutive_failures"] == 0
    assert health["bytes_transferred"] >= 5000 and health["last_success"] > 0
    metrics = sync.metrics()
    assert "policycast_sync_files_transferred_total 3.0" in metrics
    assert 'policycast_sync_passes_total{result="ok"}' in metrics
    assert "policycast_sync_consecutive_failures 0.0" in metrics

    rc, out = sync.stop()
    assert rc == 0, out
    assert "SIGTERM: stopping" in out


def test_rsync_killed_midway_leaves_no_partial_checkpoint_and_next_pass_completes(tmp_path, sync_process):
    src, dst = tmp_path / "src", tmp_path / "dst"
    big = os.urandom(6 * 1024 * 1024)
    make_experiment(src, "Reach_train_1", {"Reach.pth": big})
    nn = dst / "Reach_train_1" / "nn"
    # ~3 MB/s so that the copy is slow enough to be killed in the middle.
    sync = sync_process("--source", src, "--dest", dst, "--interval", "600", "--bwlimit", "3000")

    wait_for(
        lambda: nn.is_dir() and any(p.name.startswith(".Reach.pth.") for p in nn.iterdir()),
        step=0.01,
        what="rsync's temp file in DST",
    )
    victims = sync.rsync_children()
    assert victims, "no rsync running"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)

    seen_partial_dir = False

    def arrived():
        nonlocal seen_partial_dir
        seen_partial_dir |= (nn / ".rsync-partial").exists()
        for p in nn.iterdir():  # what a tester would consider a checkpoint must always be whole
            if is_checkpoint_name(p.name):
                assert p.read_bytes() == big, f"partial checkpoint visible: {p} ({p.stat().st_size} bytes)"
                return True
        return False

    wait_for(arrived, timeout=30, step=0.02, what="the retried pass")

    health = wait_for(lambda: (h := sync.health()[1])["passes"]["ok"] >= 1 and h, what="the pass recorded")
    assert health["passes"]["error"] >= 1 and health["consecutive_failures"] == 0
    assert seen_partial_dir, "the received part was not kept for the next pass"
    assert sorted(p.name for p in nn.iterdir()) == ["Reach.pth"]  # no temp file, no partial dir left
    rc, out = sync.stop()
    assert rc == 0 and "pass failed (1 in a row)" in out, out


def test_sigterm_during_a_transfer_exits_0_and_keeps_the_part(tmp_path, sync_process):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_experiment(src, "Reach_train_1", {"Reach.pth": os.urandom(4 * 1024 * 1024)})
    nn = dst / "Reach_train_1" / "nn"
    sync = sync_process("--source", src, "--dest", dst, "--bwlimit", "2000")
    wait_for(
        lambda: nn.is_dir() and any(p.name.startswith(".Reach.pth.") for p in nn.iterdir()),
        step=0.01,
        what="rsync's temp file in DST",
    )
    rc, out = sync.stop()
    assert rc == 0, out
    assert not (nn / "Reach.pth").exists()
    assert (nn / ".rsync-partial" / "Reach.pth").exists()
