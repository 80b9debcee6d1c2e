"""A tester process whose checkpoint is removed under it by the trainer's retention: it keeps playing
the weights it has; a later pin of the removed file is refused with one line saying why."""

import subprocess

from services.core.archive import archive_dir, move_experiment
from services.core.checkpoints import epoch_of
from services.core.retention import record_removal
from tests.api import control_session
from tests.core.test_archive import experiment as old_experiment
from tests.processes import run, start
from tests.tester.helpers import land, wait_for
from tests.tester.test_cli import argv
from tests.waiting import free_port, status_of_tester


def retire(path):
    """What the trainer's retention does to a file: remove it, then record it in the experiment."""
    st = path.stat()
    path.unlink()
    record_removal(path.parent.parent, path, st, "retention")


TOKEN = "retention-test-token"


def plays_on(port, checkpoint, episodes=2):
    """The tester keeps `checkpoint` and finishes `episodes` more episodes with it, without an error."""
    before = status_of_tester(port)["episodes"]
    s = wait_for(lambda: (st := status_of_tester(port))["episodes"] >= before + episodes and st, 60, what="episodes")
    assert s["checkpoint"] == checkpoint and s["state"] == "running" and s["last_reload_error"] is None
    return s


def test_checkpoints_removed_under_a_tester_keep_playing_and_a_later_pin_is_refused(
    runs_dir, reach_checkpoints, new_run
):
    exp = new_run(*reach_checkpoints)
    oldest, newest = reach_checkpoints[0], reach_checkpoints[-1]
    port = free_port()
    # reloadInterval=0: it keeps the checkpoint it loaded first (the newest) until asked
    proc = start(
        argv(
            "checkpoint=latest",
            "reloadInterval=0",
            f"test.control.port={port}",
            f"streamToken={TOKEN}",
            runs_dir=runs_dir,
            module=True,
        ),
        stdout=subprocess.DEVNULL,
    )
    url, api = f"http://127.0.0.1:{port}", control_session(TOKEN)  # control calls carry the token
    try:
        loaded = f"{exp.name}/nn/{newest.name}"
        wait_for(lambda: (s := status_of_tester(port)) and s["checkpoint"] == loaded, 90, what="the first checkpoint")

        # the loaded one goes (newer ones landed meanwhile, as they do in a mirror): it plays on
        later = land(oldest, exp / "nn" / f"last_Reach_ep_{epoch_of(newest) + 3}_rew_1.00.pth")
        retire(exp / "nn" / newest.name)
        plays_on(port, loaded)

        # a pin of the removed file: one line naming why
        refused = api.post(f"{url}/pin", json={"checkpoint": loaded}, timeout=5)
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert "removed at" in error and "retention" in error and "\n" not in error

        # a pinned one that goes: it plays on, and a reload asked for meanwhile changes nothing
        pinned = f"{exp.name}/nn/{oldest.name}"
        assert api.post(f"{url}/pin", json={"checkpoint": pinned}, timeout=5).ok
        wait_for(lambda: status_of_tester(port)["checkpoint"] == pinned, 30, what="the pin")
        retire(exp / "nn" / oldest.name)
        assert api.post(f"{url}/reload", timeout=5).ok
        s = plays_on(port, pinned)
        assert s["pinned"] == pinned and s["epoch"] == epoch_of(oldest)

        # unpinned, it follows what exists
        assert api.delete(f"{url}/pin", timeout=5).ok
        wait_for(lambda: status_of_tester(port)["checkpoint"] == f"{exp.name}/nn/{later.name}", 30, what="the newest")
        assert proc.poll() is None
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "refused:" not in err  # no load failed because of the removals


def test_checkpoint_names_an_archived_experiment_and_old_test_experiments_are_archived(
    runs_dir, reach_checkpoints, new_run
):
    exp = new_run(*reach_checkpoints)
    assert move_experiment(exp, archive_dir(runs_dir))  # what the archive does to an old run
    old_tests = [old_experiment(runs_dir, f"Reach_test_202611{d:02d}_120000", 7200) for d in (1, 2)]
    done = run(argv(f"checkpoint={exp.name[6:]}", "testGamesNum=2", "runs.keep=2", runs_dir=runs_dir), timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test summary: episodes 2," in done.stdout and reach_checkpoints[-1].name in done.stdout
    assert list((runs_dir.parent / "runs_all" / exp.name / "eval").glob("*/episodes.jsonl"))  # the tester's folder
    # the tester's own experiments are bounded the same way: its new one and the newest old one stay
    assert not old_tests[0].exists() and (archive_dir(runs_dir) / old_tests[0].name).is_dir()
    assert old_tests[1].is_dir() and (runs_dir / "latest_test").resolve().name.startswith("Reach_test_2026")
