"""Seeded evaluation (`test.eval.episodes`) and per-checkpoint credit, on a real tester playing real Reach
checkpoints: what a learning curve and the eval chart are built from."""

import json
import logging
import threading

import pytest

from services.core.checkpoints import load_checkpoint
from services.tester import build
from tests.tester.helpers import config_for, land, play_then_close_env, wait_for

K = 6  # episodes per checkpoint: 3 per world on 2 worlds
ID = "seeded"  # the tester's id: its eval folder is eval/seeded/


@pytest.fixture
def tester_on(runs_dir):
    """Start a tester with these extra arguments on runs_dir; stops it (and checks it stopped) after the test."""
    started = []

    def start(*extra):
        cfg = config_for(runs_dir, "checkpoint=latest", "numEnvs=2", "reloadInterval=0.2", f"test.id={ID}", *extra)
        service = build(cfg)
        stop = threading.Event()
        loop = threading.Thread(target=play_then_close_env, args=(service.tester, stop), daemon=True)
        loop.start()
        started.append((service, stop, loop))
        return service

    yield start
    for service, stop, loop in started:
        stop.set()
        loop.join(timeout=20)
        service.close()
        assert not loop.is_alive()


def rows(exp):
    path = exp / "eval" / ID / "evaluations.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def lines(exp):
    return [json.loads(line) for line in (exp / "eval" / ID / "episodes.jsonl").read_text().splitlines()]


def same_result(a, b):
    keys = ("episodes", "mean_return", "success_rate", "reward_terms", "mean_length", "frame", "seed")
    return {k: a[k] for k in keys} == {k: b[k] for k in keys}


def test_every_checkpoint_plays_the_same_seeded_episodes_and_waits_its_turn(
    tester_on, new_run, reach_checkpoints, caplog
):
    a, b, c = reach_checkpoints[0], reach_checkpoints[1], reach_checkpoints[2]
    exp = new_run()
    service = tester_on(f"test.eval.episodes={K}")
    tester, reloader = service.tester, service.reloader
    caplog.set_level(logging.INFO, logger="tester.eval")
    tester.pause()  # a checkpoint is still taken while paused: its evaluation starts, no step is played
    land(a, exp / "nn" / a.name)
    wait_for(lambda: tester.current and tester.current.path.name == a.name, 20, what="A swapped in")
    # B and C land while A's evaluation is under way: the newest waits, B is skipped
    land(b, exp / "nn" / b.name)
    wait_for(lambda: reloader.mailbox and reloader.mailbox.path.name == b.name, 20, what="B parked")
    land(c, exp / "nn" / c.name)
    wait_for(lambda: reloader.mailbox and reloader.mailbox.path.name == c.name, 20, what="C parked")
    assert tester.current.path.name == a.name and rows(exp) == []
    tester.resume()
    first, second = wait_for(lambda: len(rows(exp)) >= 2 and rows(exp), 60, what="two evaluation rows")

    epoch = {p.name: load_checkpoint(p)["epoch"] for p in (a, b, c)}
    assert [(r["checkpoint"], r["epoch"]) for r in (first, second)] == [
        (a.name, epoch[a.name]),
        (c.name, epoch[c.name]),
    ]
    for row, ck in ((first, a), (second, c)):
        assert row["episodes"] == K and row["seed"] == 1000 and row["eval_s"] > 0
        assert row["frame"] == load_checkpoint(ck)["frame"] > 0  # env-steps: the learning curve's x axis
        assert set(row["reward_terms"]) == {"distance", "closeBonus", "actionRate"}
    assert f"skipped 1 that landed meanwhile (epochs {epoch[b.name]})" in caplog.text
    assert [x["checkpoint"] for x in lines(exp)] == [a.name] * K + [c.name] * K  # nothing played uncounted
    assert service.tester.status()["state"] == "evaluated"

    # A again, after C: the same K worlds from the same seed, and nothing of C's last episodes in it
    service.tester.pin(f"{exp.name}/nn/{a.name}")
    again = wait_for(lambda: len(rows(exp)) >= 3 and rows(exp)[2], 60, what="A evaluated again")
    assert again["checkpoint"] == a.name and same_result(again, first)
    assert not same_result(first, second)  # ... and a different policy scores differently on them


def test_an_episode_spanning_a_reload_is_not_credited_to_the_new_checkpoint(tester_on, new_run, reach_checkpoints):
    a, b = reach_checkpoints[0], reach_checkpoints[-1]
    exp = new_run(a)
    service = tester_on()  # normal mode: the episodes go on across the reload
    tester = service.tester
    wait_for(lambda: tester.episodes >= 2, 60, what="A's first episodes")
    land(b, exp / "nn" / b.name)
    wait_for(
        lambda: tester.current.path.name == b.name and tester.scores.per_ckpt.episodes >= 4, 60, what="B's own episodes"
    )
    tester.pause()

    def settled():  # the file and the row agree once the step under way (if any) is done
        under_b = [x for x in lines(exp) if x["checkpoint"] == b.name]
        row = next(r for r in tester.eval_history() if r["checkpoint"] == b.name)
        return row["episodes"] == len(under_b) - 2 and (under_b, row)

    under_b, row = wait_for(settled, 10, what="episodes.jsonl and the row agreeing")
    spanning = [x for x in under_b if x.get("spans_reload")]
    assert len(spanning) == 2 and under_b[:2] == spanning  # one per world: the episode each was playing
    assert row["frame"] == load_checkpoint(b)["frame"]
    assert row["mean_return"] == pytest.approx(sum(x["return"] for x in under_b[2:]) / row["episodes"], abs=1e-5)
