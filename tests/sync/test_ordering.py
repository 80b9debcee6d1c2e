"""`latest_train` never points at an experiment whose files have not all arrived."""

import os
import threading
import time

from services.core.checkpoints import is_checkpoint_name
from tests.sync.helpers import make_experiment, wait_for, write_atomic


def test_latest_train_only_ever_resolves_to_a_complete_experiment(tmp_path, sync_process):
    src, dst = tmp_path / "src", tmp_path / "dst"
    manifest = {"Reach_train_1": {"Reach.pth": os.urandom(1000)}}
    make_experiment(src, "Reach_train_1", manifest["Reach_train_1"])
    # Short interval and debounce, slow copy: passes start while the new experiment is half written,
    # and each file takes a while to arrive.
    sync = sync_process("--source", src, "--dest", dst, "--interval", "0.3", "--debounce", "0.05", "--bwlimit", "6000")
    wait_for(lambda: os.path.lexists(dst / "latest_train"), what="the first pass")

    violations, seen, stop = [], set(), threading.Event()

    def observe():  # a tester's view of DST, as often as we can look
        while not stop.is_set():
            try:
                # as a tester reads it: the link once, then that experiment (the link may move on meanwhile)
                target = os.readlink(dst / "latest_train")
                nn = dst / target / "nn"
                have = {p.name: p.stat().st_size for p in nn.iterdir() if is_checkpoint_name(p.name)}
            except FileNotFoundError as e:
                violations.append(f"latest_train dangling or missing: {e}")
                continue
            want = {name: len(data) for name, data in manifest[target].items()}
            if have != want:
                violations.append(f"latest_train -> {target}: nn/ has {have}, expected {want}")
            seen.add(target)
            time.sleep(0.002)

    watcher = threading.Thread(target=observe)
    watcher.start()
    try:
        # A large experiment arriving like a trainer writes it: checkpoints one by one, then the link.
        manifest["Reach_train_2"] = {f"last_Reach_ep_{e}_rew_{e}.pth": os.urandom(1024 * 1024) for e in range(6)}
        for name, data in manifest["Reach_train_2"].items():
            write_atomic(src / "Reach_train_2" / "nn" / name, data)
            time.sleep(0.1)
        make_experiment(src, "Reach_train_2", {}, link="latest_train")
        wait_for(
            lambda: os.readlink(dst / "latest_train") == "Reach_train_2",
            timeout=30,
            what="latest_train to move to the new experiment",
        )
        time.sleep(0.2)
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert not violations, violations[:5]
    assert seen == {"Reach_train_1", "Reach_train_2"}
    assert sync.stop()[0] == 0


def test_a_link_whose_experiment_has_not_arrived_is_held_back(tmp_path):
    from services.sync.passes import install_links

    staging, dst = tmp_path / "dst" / ".sync-links", tmp_path / "dst"
    staging.mkdir(parents=True)
    (dst / "Reach_train_1").mkdir()
    os.symlink("Reach_train_1", dst / "latest_train")
    os.symlink("Reach_train_2", staging / "latest_train")  # SRC moved on; DST lacks Reach_train_2
    os.symlink("Reach_test_1", staging / "latest_test")
    (dst / "Reach_test_1").mkdir()

    updated, pending = install_links(staging, dst, delete=False)

    assert (updated, pending) == (["latest_test"], ["latest_train"])
    assert os.readlink(dst / "latest_train") == "Reach_train_1" and os.readlink(dst / "latest_test") == "Reach_test_1"
    (dst / "Reach_train_2").mkdir()
    assert install_links(staging, dst, delete=False) == (["latest_train"], [])
    assert os.readlink(dst / "latest_train") == "Reach_train_2"
