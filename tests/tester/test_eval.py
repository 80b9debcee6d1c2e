"""Per-checkpoint evaluation files, one folder per tester: what a user opens in TensorBoard next to the
training curves, and what the dashboard's chart reads back after a tester restarts."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from services.tester.evalrec import EvalRecorder, eval_dir_for


def record(rec, plan):
    """plan: {epoch: [returns]}; the first episode of each epoch succeeds and runs to the time limit, the
    others end with the hand on the table."""
    for epoch, returns in plan.items():
        for i, ret in enumerate(returns):
            terms = {"distance": -ret, "closeBonus": 2 * ret}
            ending = "timeLimit" if i == 0 else "tableContact"
            rec.record(
                {"return": ret, "length": 100, "success": i == 0, "termination": ending, "reward_terms": terms},
                f"last_Reach_ep_{epoch}.pth",
                epoch,
                frame=1024 * epoch,
            )


EXPECTED = [
    {
        "epoch": 3,
        "checkpoint": "last_Reach_ep_3.pth",
        "episodes": 2,
        "mean_return": 2.0,
        "success_rate": 0.5,
        "reward_terms": {"distance": -2.0, "closeBonus": 4.0},
        "terminations": {"tableContact": 0.5, "timeLimit": 0.5},
        "mean_length": 100.0,
        "frame": 3072,
    },
    {
        "epoch": 6,
        "checkpoint": "last_Reach_ep_6.pth",
        "episodes": 3,
        "mean_return": 7.0,
        "success_rate": 1 / 3,
        "reward_terms": {"distance": -7.0, "closeBonus": 14.0},
        "terminations": {"tableContact": 2 / 3, "timeLimit": 1 / 3},
        "mean_length": 100.0,
        "frame": 6144,
    },
]


def test_episodes_and_per_epoch_scalars_in_the_testers_own_folder(tmp_path):
    train_exp, test_exp = tmp_path / "Reach_train_1", tmp_path / "Reach_test_1"
    train_exp.mkdir(), test_exp.mkdir()
    rec = EvalRecorder(eval_dir_for(train_exp, test_exp, "tester-1"))
    assert rec.dir == train_exp / "eval" / "tester-1"
    record(rec, {3: [1.0, 3.0], 6: [5.0, 7.0, 9.0]})
    rec.close()

    lines = [json.loads(x) for x in (rec.dir / "episodes.jsonl").read_text().splitlines()]
    assert [(x["epoch"], x["return"], x["frame"]) for x in lines] == [
        (3, 1.0, 3072),
        (3, 3.0, 3072),
        (6, 5.0, 6144),
        (6, 7.0, 6144),
        (6, 9.0, 6144),
    ]
    assert lines[-1]["reward_terms"] == {"distance": -9.0, "closeBonus": 18.0}
    assert [x["termination"] for x in lines] == ["timeLimit", "tableContact"] * 2 + ["tableContact"]
    assert rec.history() == EXPECTED
    assert rec.last() == {"epoch": 6, "episodes": 3, "mean_return": 7.0, "success_rate": 1 / 3}
    acc = EventAccumulator(str(rec.dir))
    acc.Reload()
    last_per_epoch = {e.step: e.value for e in acc.Scalars("eval/mean_return")}  # later points win
    assert last_per_epoch == {3: 2.0, 6: 7.0}
    assert {e.step: e.value for e in acc.Scalars("eval/reward/distance")} == {3: -2.0, 6: -7.0}
    assert {e.step: e.value for e in acc.Scalars("eval/termination/tableContact")} == {3: 0.5, 6: pytest.approx(2 / 3)}


def test_a_cause_that_stops_ending_episodes_is_charted_at_zero(tmp_path):
    """A curve per cause goes on once it began: a cause absent from a later checkpoint's episodes is a
    point at 0 there, not the last value held. Episodes recorded before causes were named count none."""
    rec = EvalRecorder(eval_dir_for(tmp_path / "Reach_train_1", None, "tester-1"))
    for epoch, ending in ((3, "stageTimeout"), (6, "timeLimit"), (9, None)):
        episode = {"return": 1.0, "length": 100, "success": False}
        rec.record({**episode, "termination": ending} if ending else episode, f"last_ep_{epoch}.pth", epoch)
    rec.close()
    assert [row["terminations"] for row in rec.history()] == [{"stageTimeout": 1.0}, {"timeLimit": 1.0}, None]
    acc = EventAccumulator(str(rec.dir))
    acc.Reload()
    assert {e.step: e.value for e in acc.Scalars("eval/termination/stageTimeout")} == {3: 1.0, 6: 0.0, 9: 0.0}
    assert {e.step: e.value for e in acc.Scalars("eval/termination/timeLimit")} == {6: 1.0, 9: 0.0}


def test_a_restarted_tester_carries_on_with_its_history(tmp_path):
    """Same id, same folder: the chart (GET /eval) and the last evaluation survive a restart; a torn last
    line (the old process was killed mid-write) is skipped; another tester's folder is not read."""
    exp = tmp_path / "Reach_train_1"
    exp.mkdir()
    first = EvalRecorder(eval_dir_for(exp, None, "tester-1"))
    record(first, {3: [1.0, 3.0], 6: [5.0, 7.0, 9.0]})
    first.close()
    with open(first.dir / "episodes.jsonl", "a") as f:
        f.write('{"checkpoint": "last_Reach_ep_9.pth", "epoch": 9, "ret')  # SIGKILL mid-line

    again = EvalRecorder(eval_dir_for(exp, None, "tester-1"))
    assert again.history() == EXPECTED
    assert again.last()["epoch"] == 6
    record(again, {6: [11.0]})  # it plays the same checkpoint on: the row grows
    assert again.history()[1]["episodes"] == 4 and again.history()[1]["mean_return"] == 8.0
    again.close()
    other = EvalRecorder(eval_dir_for(exp, None, "tester-2"))
    assert other.history() == [] and other.last() is None
    other.close()


def test_a_restarted_evaluator_keeps_its_seeded_rows(tmp_path):
    """In eval mode a row is the evaluation's own figures (evaluations.jsonl), not every episode seen."""
    exp = tmp_path / "Reach_train_1"
    exp.mkdir()
    rec = EvalRecorder(eval_dir_for(exp, None, "seeded"))
    rec.restart("last_Reach_ep_3.pth", 3)
    record(rec, {3: [1.0, 3.0]})
    row = rec.evaluated("last_Reach_ep_3.pth", 3, frame=3072, seed=1000, eval_s=0.5, saved_at=1.0)
    rec.close()
    again = EvalRecorder(eval_dir_for(exp, None, "seeded"))
    assert again.history() == [row]
    assert again.last() == {"epoch": 3, "episodes": 2, "mean_return": 2.0, "success_rate": 0.5}
    again.close()


def test_where_the_evaluation_goes_when_the_run_is_read_only(tmp_path):
    out = tmp_path / "tester-runs"
    train_exp, test_exp = tmp_path / "runs" / "Reach_train_1", out / "Reach_test_1"
    train_exp.mkdir(parents=True), test_exp.mkdir(parents=True)
    (train_exp / "eval").write_text("")  # as good as read-only: no eval/ can be made there (root ignores modes)
    # the run's name under the tester's own out dir: stable across its restarts, beside the run in TensorBoard
    assert eval_dir_for(train_exp, test_exp, "tester-1") == out / "Reach_train_1" / "eval" / "tester-1"
    assert eval_dir_for(None, test_exp, "tester-1") == test_exp / "eval" / "tester-1"  # a lone .pth
    assert eval_dir_for(train_exp, None, "tester-1") is None
    assert eval_dir_for(None, test_exp, "../..").parent == test_exp / "eval"  # an id is a folder name, no path
