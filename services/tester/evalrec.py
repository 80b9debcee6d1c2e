"""Per-checkpoint evaluation: every finished episode to `eval/episodes.jsonl`, aggregates to TensorBoard.

Users see eval return vs checkpoint epoch next to the training curves (same experiment, `eval/`).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("tester.eval")


def eval_dir_for(train_experiment, test_experiment) -> Path | None:
    """The training run's `eval/` when writable (local runs), else the test experiment's (read-only mounts)."""
    for exp in (train_experiment, test_experiment):
        if exp is None:
            continue
        d = Path(exp) / "eval"
        try:
            d.mkdir(exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    return None


class EvalRecorder:
    def __init__(self, eval_dir):
        self.dir = Path(eval_dir) if eval_dir else None
        self.rows: dict[tuple, dict] = {}  # (checkpoint name, epoch) -> aggregate, in order seen
        self.writer = None
        if self.dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # heavy import: only when recording

            self.writer = SummaryWriter(log_dir=str(self.dir), flush_secs=5)
            log.info("eval episodes -> %s", self.dir / "episodes.jsonl")

    def record(self, episode: dict, checkpoint: str, epoch) -> None:
        line = {"checkpoint": checkpoint, "epoch": epoch, "return": float(episode["return"]),
                "length": int(episode["length"]), "success": bool(episode.get("success", False))}
        row = self.rows.setdefault((checkpoint, epoch), {"epoch": epoch, "checkpoint": checkpoint, "episodes": 0,
                                                         "return_sum": 0.0, "successes": 0, "length_sum": 0})
        row["episodes"] += 1
        row["return_sum"] += line["return"]
        row["successes"] += int(line["success"])
        row["length_sum"] += line["length"]
        if self.dir is None:
            return
        with open(self.dir / "episodes.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
        if self.writer is not None and epoch is not None:
            # Re-written as episodes accrue: the last point per epoch holds the full aggregate.
            n = row["episodes"]
            self.writer.add_scalar("eval/mean_return", row["return_sum"] / n, epoch)
            self.writer.add_scalar("eval/success_rate", row["successes"] / n, epoch)
            self.writer.add_scalar("eval/episode_length", row["length_sum"] / n, epoch)
            self.writer.add_scalar("eval/episodes", n, epoch)

    def history(self) -> list[dict]:
        return [{"epoch": r["epoch"], "checkpoint": r["checkpoint"], "episodes": r["episodes"],
                 "mean_return": r["return_sum"] / r["episodes"], "success_rate": r["successes"] / r["episodes"]}
                for r in self.rows.values()]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
