"""The sync source goes away in the middle of a transfer and comes back: /healthz goes 503 then 200, no
partial checkpoint is ever visible in the mirror, and a tester on the mirror keeps running the last
good weights until the new checkpoint has arrived whole."""

import os
import threading

import torch

from services.core.checkpoints import epoch_of, is_checkpoint_name, load_checkpoint, save_atomic
from services.core.experiments import create_experiment
from services.streamer.hub import Hub
from services.tester import build
from tests.sync.helpers import Sshd, SyncProcess
from tests.tester.helpers import config_for, land, play_then_close_env
from tests.waiting import wait_for

BIG = 6 * 1024 * 1024  # padding: at --bwlimit 2000 KiB/s the new checkpoint takes ~3 s to cross


def test_sync_source_unreachable_then_back(tmp_path, reach_run):
    checkpoints = sorted((reach_run / "nn").glob("last_*.pth"), key=epoch_of)
    src, dst = tmp_path / "server" / "runs", tmp_path / "mirror" / "runs"
    exp = create_experiment(src, "Reach", "train")
    land(checkpoints[0], exp / "nn" / checkpoints[0].name)
    sshd = Sshd(tmp_path / "sshd")
    sync = SyncProcess(
        "--source",
        f"root@127.0.0.1:{src}/",
        "--dest",
        dst,
        "--interval",
        "1",
        "--unhealthy-after",
        "2",
        "--bwlimit",
        "2000",
        "--ssh-port",
        sshd.port,
        "--identity",
        sshd.dir / "user_key",
        "--known-hosts",
        sshd.dir / "known_hosts",
    )
    mirror_nn = dst / exp.name / "nn"

    # a watcher that looks at the mirror every few ms: every checkpoint it can see must be whole
    seen_partial, stop_watching = [], threading.Event()

    def watch():
        while not stop_watching.is_set():
            for p in mirror_nn.iterdir() if mirror_nn.is_dir() else ():
                if is_checkpoint_name(p.name):
                    try:
                        size, whole = p.stat().st_size, (exp / "nn" / p.name).stat().st_size
                    except FileNotFoundError:
                        continue
                    if size != whole:
                        seen_partial.append((p.name, size, whole))
            stop_watching.wait(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    wait_for(lambda: (dst / "latest_train").exists(), 30, what="the first pass")
    hub = Hub()  # frames go to an in-process streamer hub: we count them
    service = build(
        config_for(
            dst,
            "checkpoint=latest",
            "numEnvs=1",
            "reloadInterval=0.5",
            "test.id=mirror",
            "test.render.width=160",
            "test.render.height=120",
        ),
        hub,
    )
    tester, stop = service.tester, threading.Event()
    tester.readers.add("test")  # we read its frames: a tester renders only for readers
    loop = threading.Thread(target=play_then_close_env, args=(tester, stop), daemon=True)
    loop.start()
    try:
        old_epoch = epoch_of(checkpoints[0])
        wait_for(lambda: tester.status()["epoch"] == old_epoch, 30, what="the tester on the first checkpoint")

        # a newer, big checkpoint on the server; the link goes down while it is on its way
        new = exp / "nn" / "last_Reach_ep_99_rew_1.00.pth"
        state = load_checkpoint(checkpoints[-1])
        save_atomic({**state, "epoch": 99, "optimizer": {"pad": torch.zeros(BIG // 4)}}, new)
        wait_for(
            lambda: any(
                p.name.startswith(f".{new.name}") and p.stat().st_size > BIG // 8
                for p in mirror_nn.rglob(".*")
                if p.is_file()
            ),
            30,
            step=0.01,
            what="the new checkpoint part-way across",
        )
        sshd.stop()
        for pid in sync.rsync_children():
            os.kill(pid, 9)
        code, health = wait_for(lambda: (h := sync.health())[0] == 503 and h, 30, what="/healthz 503")
        assert health["status"] == "failing" and health["consecutive_failures"] >= 2, health
        frames = hub.channel("mirror").frames_in
        wait_for(lambda: hub.channel("mirror").frames_in > frames + 10, 10, what="frames during the outage")
        s = tester.status()
        assert (s["state"], s["epoch"], s["last_reload_error"]) == ("running", old_epoch, None), s
        assert not (mirror_nn / new.name).exists()

        sshd.start()  # the server is back
        wait_for(lambda: sync.health()[0] == 200, 60, what="/healthz 200 again")
        wait_for(lambda: tester.status()["epoch"] == 99, 60, what="the tester on the new checkpoint")
        assert (mirror_nn / new.name).read_bytes() == new.read_bytes()
        assert tester.status()["last_reload_error"] is None
    finally:
        stop_watching.set()
        stop.set()
        loop.join(timeout=10)
        service.close()
        sync.stop()
        sshd.stop()
    assert seen_partial == [], f"a partial checkpoint was visible in the mirror: {seen_partial[:3]}"
    assert sorted(p.name for p in mirror_nn.iterdir()) == [checkpoints[0].name, new.name]  # nothing left over
