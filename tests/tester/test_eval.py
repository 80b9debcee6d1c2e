"""Per-checkpoint evaluation files: what a user opens in TensorBoard next to the training curves."""

import json

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from services.tester.evalrec import EvalRecorder, eval_dir_for


def test_episodes_and_per_epoch_scalars(tmp_path):
    train_exp, test_exp = tmp_path / "Reach_train_1", tmp_path / "Reach_test_1"
    train_exp.mkdir(), test_exp.mkdir()
    rec = EvalRecorder(eval_dir_for(train_exp, test_exp))
    for epoch, returns in ((3, [1.0, 3.0]), (6, [5.0, 7.0, 9.0])):
        for i, ret in enumerate(returns):
            terms = {"distance": -ret, "closeBonus": 2 * ret}
            rec.record(
                {"return": ret, "length": 100, "success": i == 0, "reward_terms": terms},
                f"last_Reach_ep_{epoch}.pth",
                epoch,
                frame=1024 * epoch,
            )
    rec.close()

    lines = [json.loads(x) for x in (train_exp / "eval" / "episodes.jsonl").read_text().splitlines()]
    assert [(x["epoch"], x["return"]) for x in lines] == [(3, 1.0), (3, 3.0), (6, 5.0), (6, 7.0), (6, 9.0)]
    assert lines[-1]["reward_terms"] == {"distance": -9.0, "closeBonus": 18.0}
    assert rec.history() == [
        {
            "epoch": 3,
            "checkpoint": "last_Reach_ep_3.pth",
            "episodes": 2,
            "mean_return": 2.0,
            "success_rate": 0.5,
            "reward_terms": {"distance": -2.0, "closeBonus": 4.0},
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
            "mean_length": 100.0,
            "frame": 6144,
        },
    ]
    acc = EventAccumulator(str(train_exp / "eval"))
    acc.Reload()
    last_per_epoch = {e.step: e.value for e in acc.Scalars("eval/mean_return")}  # later points win
    assert last_per_epoch == {3: 2.0, 6: 7.0}
    assert {e.step: e.value for e in acc.Scalars("eval/reward/distance")} == {3: -2.0, 6: -7.0}


def test_an_unwritable_training_run_sends_eval_to_the_test_experiment(tmp_path):
    train_exp, test_exp = tmp_path / "Reach_train_1", tmp_path / "Reach_test_1"
    train_exp.mkdir(), test_exp.mkdir()
    (train_exp / "eval").write_text("")  # as good as read-only: no eval/ can be made there (root ignores modes)
    assert eval_dir_for(train_exp, test_exp) == test_exp / "eval"
    assert eval_dir_for(None, test_exp) == test_exp / "eval"  # a lone .pth outside any experiment
    assert eval_dir_for(train_exp, None) is None
