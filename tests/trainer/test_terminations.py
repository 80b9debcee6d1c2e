"""How episodes ended, where a person watching training looks: `termination/<cause>` scalars beside
`reward/<term>` in TensorBoard, and the commonest early endings in the progress line (a real BlindGrasping
run of the real trainer: the session's `grasp_run`)."""

import collections
import re

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ENDINGS = ("tableContact", "tableClearance", "boxPushed", "stageTimeout", "graspLost", "physicsError", "timeLimit")


def test_a_blind_grasping_run_logs_what_ended_its_episodes(grasp_run):
    acc = EventAccumulator(str(grasp_run / "summaries"), size_guidance={"scalars": 0})
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    assert {f"termination/{name}" for name in ENDINGS} == {t for t in scalars if t.startswith("termination/")}
    assert "reward/failure" in scalars  # beside the reward terms
    shares = collections.defaultdict(dict)  # frame -> cause -> share of the last finished episodes
    for name in ENDINGS:
        for event in acc.Scalars(f"termination/{name}"):
            shares[event.step][name] = event.value
    assert len(shares) >= 2
    for frame, by_cause in shares.items():
        assert set(by_cause) == set(ENDINGS) and abs(sum(by_cause.values()) - 1) < 1e-5, (frame, by_cause)
    # 8 epochs of 32 steps never reach the 300-step time limit: every episode an untrained policy finished
    # ended early, and the causes say how
    last = shares[max(shares)]
    assert last["timeLimit"] == 0 and last["physicsError"] == 0
    line = [x for x in (grasp_run / "train.log").read_text().splitlines() if "epoch 8/8" in x][-1]
    early = dict(re.findall(r"(\w+) (\d+)%", line.split("| ended early: ")[1]))
    assert early and set(early) <= set(ENDINGS[:5])
    assert all(abs(int(v) - 100 * last[name]) <= 0.5 for name, v in early.items()), (line, last)
