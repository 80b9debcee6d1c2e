"""Hot reload with real rl_games checkpoints: new saves are picked up, bad files never change the weights."""

import io
import logging
import pickle
import time
from types import SimpleNamespace

import pytest
import torch

from services.core.checkpoints import load_checkpoint
from services.tester.reloader import HotReloader
from tests.tester.helpers import actions_of, land, same_weights, wait_for


def reloader_for(builder, runs_dir, spec="latest", **kwargs) -> HotReloader:
    return HotReloader(spec, runs_dir, SimpleNamespace(builder=builder), **kwargs).start()


def take_next(reloader, timeout=20.0):
    """What the stepping loop would swap in next (and report the swap as the loop does)."""
    loaded = wait_for(reloader.take, timeout)
    reloader.swapped(None, loaded)
    return loaded


@pytest.mark.parametrize("watch_events", [True, False], ids=["events", "polling-only"])
def test_a_new_save_is_loaded_and_acts(builder, reach_checkpoints, probe_obs, new_run, runs_dir, watch_events):
    first, second = reach_checkpoints[0], reach_checkpoints[-1]
    exp = new_run(first)
    interval = 2.0 if watch_events else 0.3
    reloader = reloader_for(builder, runs_dir, interval=interval, watch_events=watch_events)
    try:
        old = take_next(reloader)
        assert old.path.name == first.name
        if watch_events:
            # The interval is over and the look it was due for found nothing: the next poll comes a whole
            # interval later, so only a filesystem event can explain a load well before that.
            wait_for(lambda: reloader.due_in() == 0, interval + 5, what="the interval to pass")
            looks = reloader.looks
            wait_for(lambda: reloader.looks > looks, interval + 5, what="the look due then")
            looked_at = time.monotonic()
        land(second, exp / "nn" / second.name)
        new = take_next(reloader)
    finally:
        reloader.stop()
    if watch_events:
        assert new.ready_at < looked_at + interval - 0.5, "loaded by the next poll, not on the file event"
    assert new.path == exp / "nn" / second.name and new.epoch == load_checkpoint(second)["epoch"]
    expected = builder.from_state(load_checkpoint(second)["model"])
    assert same_weights(new.model, expected)
    assert torch.equal(actions_of(new.model, probe_obs), actions_of(expected, probe_obs))
    assert not torch.equal(actions_of(new.model, probe_obs), actions_of(old.model, probe_obs))


def test_the_interval_is_the_least_time_between_automatic_reloads(builder, reach_checkpoints, new_run, runs_dir):
    """A trainer that rewrites its best file every few hundred ms must not flip the policy each time:
    each checkpoint is kept at least `interval` seconds, then the newest comes in promptly; the user's
    own requests (pin, unpin, reload now) act at once."""
    exp = new_run(reach_checkpoints[0])
    best, interval = exp / "nn" / "Reach.pth", 2.0
    reloader = reloader_for(builder, runs_dir, interval=interval)
    loads = []

    def collect(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if (loaded := reloader.take()) is not None:
                reloader.swapped(loads[-1] if loads else None, loaded)
                loads.append(loaded)
            time.sleep(0.01)

    try:
        collect(0)
        loads.append(take_next(reloader))
        for i in range(26):  # a new version of the best file every 0.25 s for 6.5 s
            land(reach_checkpoints[i % len(reach_checkpoints)], best)
            collect(0.25)
        automatic = [b.ready_at - a.ready_at for a, b in zip(loads, loads[1:])]
        assert 2 <= len(automatic) <= 4, f"{len(loads)} loads in 6.5 s of landings every 0.25 s"
        assert min(automatic) >= interval, automatic
        assert max(automatic) < interval + 1.0, automatic  # soon after the interval elapsed
        assert reloader.due_in() > 0  # just reloaded: nothing automatic for a while

        asked = time.monotonic()
        reloader.pin(f"{exp.name}/nn/{reach_checkpoints[0].name}")
        assert take_next(reloader).path.name == reach_checkpoints[0].name
        reloader.unpin()
        assert take_next(reloader).path == best
        land(reach_checkpoints[-1], best)
        reloader.reload_now()
        assert take_next(reloader).path == best
        assert time.monotonic() - asked < interval, "a request waited for the interval"
    finally:
        reloader.stop()


def test_a_rewritten_file_with_the_same_name_is_a_new_checkpoint(builder, reach_checkpoints, new_run, runs_dir):
    exp = new_run()
    best = exp / "nn" / "Reach.pth"  # rl_games rewrites the best file in place on every improvement
    land(reach_checkpoints[0], best)
    reloader = reloader_for(builder, runs_dir, interval=0.2)
    try:
        assert take_next(reloader).epoch == load_checkpoint(reach_checkpoints[0])["epoch"]
        land(reach_checkpoints[-1], best)
        assert take_next(reloader).epoch == load_checkpoint(reach_checkpoints[-1])["epoch"]
    finally:
        reloader.stop()


def test_reload_interval_zero_keeps_the_first_checkpoint(builder, reach_checkpoints, new_run, runs_dir):
    exp = new_run(reach_checkpoints[0])
    reloader = reloader_for(builder, runs_dir, interval=0)
    try:
        assert take_next(reloader).path.name == reach_checkpoints[0].name
        land(reach_checkpoints[-1], exp / "nn" / reach_checkpoints[-1].name)
        reloader.check()  # what a poll or an event would do
        assert reloader.take() is None
        reloader.reload_now()  # an explicit request still works
        assert take_next(reloader).path.name == reach_checkpoints[-1].name
    finally:
        reloader.stop()


@pytest.mark.parametrize("follow", [True, False], ids=["follows", "stays"])
def test_latest_train_moving_is_followed(builder, reach_checkpoints, new_run, runs_dir, follow):
    first_run = new_run(reach_checkpoints[0])
    reloader = reloader_for(builder, runs_dir, interval=0.3, follow_latest=follow)
    try:
        assert take_next(reloader).experiment == first_run
        second_run = new_run(reach_checkpoints[-1])  # a new training run moves runs/latest_train
        assert (runs_dir / "latest_train").resolve() == second_run
        if follow:
            loaded = take_next(reloader)
            assert loaded.experiment == second_run and loaded.path.parent == second_run / "nn"
        else:
            wait_for(lambda: reloader.check() is None and reloader.experiment == first_run, 5)
            assert reloader.take() is None and reloader.experiment == first_run
    finally:
        reloader.stop()


# --- hostile files ------------------------------------------------------------------------------


class _RunsCode:
    """Unpickling this would run a shell command that leaves a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def hostile_files(good, tmp_path):
    """name -> bytes of each kind of bad checkpoint a tester may meet."""
    raw = good.read_bytes()
    state = load_checkpoint(good)
    wrong_shape = dict(state, model=dict(state["model"]))
    wrong_shape["model"]["a2c_network.mu.weight"] = torch.zeros(3, 3)
    wrong_keys = dict(state, model={k.replace("actor_mlp", "policy_mlp"): v for k, v in state["model"].items()})

    def saved(obj):
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    return {
        "truncated": raw[: len(raw) // 2],
        "zero_byte": b"",
        "random_bytes": bytes(
            torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(1), dtype=torch.uint8).tolist()
        ),
        "pickled_code": saved({"model": {}, "epoch": 1, "x": _RunsCode(tmp_path / "PWNED")}),
        "plain_pickle_code": pickle.dumps(_RunsCode(tmp_path / "PWNED")),
        "wrong_shape": saved(wrong_shape),
        "wrong_keys": saved(wrong_keys),
    }


def test_hostile_checkpoints_never_change_the_weights(
    builder, reach_checkpoints, probe_obs, new_run, runs_dir, tmp_path, caplog
):
    good = reach_checkpoints[0]
    exp = new_run(good)
    reloader = reloader_for(builder, runs_dir, interval=0.2)
    caplog.set_level(logging.WARNING, logger="tester.reload")
    try:
        current = take_next(reloader)
        weights, actions = (
            {k: v.clone() for k, v in current.model.state_dict().items()},
            actions_of(current.model, probe_obs),
        )
        for i, (kind, data) in enumerate(hostile_files(good, tmp_path).items()):
            bad = exp / "nn" / f"last_Reach_ep_{900 + i}_rew_0.00.pth"
            tmp = bad.with_name(f".{bad.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(bad)  # whole at once: the reloader judges these bytes, not a half-written file
            # refused with one line naming the file, shown in the status (`last_reload_error`)
            wait_for(lambda: bad.name in (reloader.last_error or ""), 10, what=f"{kind} refused")
            assert reloader.last_error.split()[0] in ("corrupt", "refused", "incompatible", "not_checkpoint")
            if not data:
                assert reloader.last_error.endswith("empty file (0 bytes)")
            reloader.check()
            assert reloader.take() is None, kind
            assert all(torch.equal(v, weights[k]) for k, v in current.model.state_dict().items()), kind
            assert torch.equal(actions_of(current.model, probe_obs), actions), kind
            bad.unlink()
        assert not (tmp_path / "PWNED").exists(), "a hostile checkpoint ran code"
        refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        # one line per bad file, not one per poll
        assert len(refusals) == len(set(refusals)) == len(hostile_files(good, tmp_path))

        # still alive: a good checkpoint after all that is loaded
        land(reach_checkpoints[-1], exp / "nn" / reach_checkpoints[-1].name)
        assert take_next(reloader).path.name == reach_checkpoints[-1].name
    finally:
        reloader.stop()


def test_a_refused_file_is_retried_when_it_changes(builder, reach_checkpoints, new_run, runs_dir):
    exp = new_run(reach_checkpoints[0])
    reloader = reloader_for(builder, runs_dir, interval=0.2)
    try:
        take_next(reloader)
        target = exp / "nn" / reach_checkpoints[-1].name
        raw = reach_checkpoints[-1].read_bytes()
        target.write_bytes(raw[:1000])  # e.g. a copy tool that writes in place, seen half-way
        wait_for(lambda: target.name in (reloader.last_error or ""), 10)
        assert reloader.take() is None
        target.write_bytes(raw)  # the same name, now complete: a new version, tried again
        assert take_next(reloader).path == target
        assert reloader.last_error is None
    finally:
        reloader.stop()


def test_reloads_are_counted_by_result_and_timed_from_landing_or_hold_end(
    builder, reach_checkpoints, new_run, runs_dir
):
    """What /metrics charts: a swap is `loaded`, checkpoints it passed over (they landed while the current one
    was held by the interval) `skipped`, a bad file `refused`; the latency starts when the hold ended, not
    when the checkpoint landed seconds before it."""
    first, passed, newest = reach_checkpoints[0], reach_checkpoints[1], reach_checkpoints[2]
    exp = new_run(first)
    interval = 2.0
    reloader = reloader_for(builder, runs_dir, interval=interval)
    try:
        old = take_next(reloader)
        land(passed, exp / "nn" / passed.name)  # both land at once, while `first` is held
        time.sleep(0.01)
        land(newest, exp / "nn" / newest.name)
        new = wait_for(reloader.take, interval + 10)
        reloader.swapped(old, new)
        assert new.path.name == newest.name
        assert (reloader.reloads, reloader.skipped, reloader.refused) == (1, 1, 0)
        latency = reloader.latency.snapshot()
        assert latency["count"] == 1 and latency["counts"][-1] == 1
        assert latency["sum"] < interval, latency  # landed ~2 s before the hold ended: not counted

        bad = exp / "nn" / "last_Reach_ep_999_rew_0.00.pth"
        bad.write_bytes(newest.read_bytes()[:1000])
        wait_for(lambda: bad.name in (reloader.last_error or ""), interval + 10, what="the bad file refused")
        reloader.check()  # looked at again: the same version is not refused twice
        assert (reloader.reloads, reloader.skipped, reloader.refused) == (1, 1, 1)
    finally:
        reloader.stop()
