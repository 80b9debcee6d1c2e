"""Per-checkpoint evaluation: every finished episode to `eval/episodes.jsonl`, aggregates to TensorBoard,
and in eval mode one row per evaluated checkpoint to `eval/evaluations.jsonl` (what learning curves read).

Users see eval return vs checkpoint epoch next to the training curves (same experiment, `eval/`).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import time
from dataclasses import dataclass, field
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


@dataclass
class EpisodeStats:
    """Sums over finished episodes (a tester's run, one checkpoint, one eval row); means on demand."""

    episodes: int = 0
    return_sum: float = 0.0
    successes: int = 0
    length_sum: int = 0
    term_sums: dict = field(default_factory=dict)  # reward term -> sum of its per-episode sums

    def add(self, episode: dict) -> None:
        self.episodes += 1
        self.return_sum += float(episode["return"])
        self.successes += int(bool(episode.get("success", False)))
        self.length_sum += int(episode.get("length", 0))
        for name, value in (episode.get("reward_terms") or {}).items():
            self.term_sums[name] = self.term_sums.get(name, 0.0) + float(value)

    def mean_return(self) -> float | None:
        return self.return_sum / self.episodes if self.episodes else None

    def success_rate(self) -> float | None:
        return self.successes / self.episodes if self.episodes else None

    def reward_terms(self) -> dict | None:
        """Mean per-episode sum of each (scaled) reward term."""
        return {k: v / self.episodes for k, v in self.term_sums.items()} if self.episodes else None


class RoundStats(EpisodeStats):
    """EpisodeStats over complete rounds: every world's first k finished episodes, k the most that every
    world has finished. A checkpoint watched on many worlds otherwise counts more of the episodes that
    fail early (they end sooner) than of those that succeed and run their full length; a round takes
    one of each world's, as seeded evaluation's per-world quota does (evaluation.py)."""

    def __init__(self, num_envs: int):
        super().__init__()
        self.pending = [collections.deque() for _ in range(num_envs)]  # finished, waiting for their round

    def add(self, episode: dict) -> None:
        self.pending[int(episode["world"])].append(episode)
        while all(self.pending):
            for waiting in self.pending:
                super().add(waiting.popleft())


class EvalRecorder:
    def __init__(self, eval_dir, rounds: int | None = None):
        """`rounds`: the number of worlds, to count each checkpoint's episodes in complete rounds
        (RoundStats: worlds that play on, no seeded quota); None counts every one (seeded evaluation)."""
        self.dir = Path(eval_dir) if eval_dir else None
        self.rounds = rounds
        self.rows: dict[tuple, EpisodeStats] = {}  # (checkpoint name, epoch) -> aggregate, in order seen
        self.facts: dict[tuple, dict] = {}  # (checkpoint name, epoch) -> frame, and an evaluation's seed, time...
        self.writer = None
        if self.dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # heavy import: only when recording

            self.writer = SummaryWriter(log_dir=str(self.dir), flush_secs=5)
            log.info("eval episodes -> %s", self.dir / "episodes.jsonl")

    def record(self, episode: dict, checkpoint: str, epoch, frame=None, credit: bool = True) -> None:
        """One finished episode. `credit=False`: it began under the previous checkpoint (it spans a
        reload), so it is written with `"spans_reload": true` but left out of this checkpoint's row."""
        line = {
            "checkpoint": checkpoint,
            "epoch": epoch,
            "return": float(episode["return"]),
            "length": int(episode["length"]),
            "success": bool(episode.get("success", False)),
        }
        if episode.get("reward_terms"):
            line["reward_terms"] = {k: round(float(v), 6) for k, v in episode["reward_terms"].items()}
        if episode.get("metrics"):  # the task's metrics on the last step (BlindGrasping: best_lift, stage...)
            line["metrics"] = {k: round(float(v), 6) for k, v in episode["metrics"].items()}
        if not credit:
            line["spans_reload"] = True
        else:
            row = self.rows.setdefault((checkpoint, epoch), self.stats())
            row.add(episode)
            self.facts.setdefault((checkpoint, epoch), {"frame": frame})
        if self.dir is None:
            return
        with open(self.dir / "episodes.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
        if credit and self.writer is not None and epoch is not None and row.episodes:
            # Re-written as episodes accrue: the last point per epoch holds the full aggregate.
            self.writer.add_scalar("eval/mean_return", row.mean_return(), epoch)
            self.writer.add_scalar("eval/success_rate", row.success_rate(), epoch)
            self.writer.add_scalar("eval/episode_length", row.length_sum / row.episodes, epoch)
            self.writer.add_scalar("eval/episodes", row.episodes, epoch)
            for name, mean in row.reward_terms().items():
                self.writer.add_scalar(f"eval/reward/{name}", mean, epoch)

    def stats(self) -> EpisodeStats:
        return RoundStats(self.rounds) if self.rounds else EpisodeStats()

    def restart(self, checkpoint: str, epoch) -> None:
        """A seeded evaluation of this checkpoint begins: its row holds that evaluation's episodes only."""
        self.rows[(checkpoint, epoch)] = EpisodeStats()
        self.facts.pop((checkpoint, epoch), None)

    def evaluated(self, checkpoint: str, epoch, **facts) -> dict:
        """The evaluation of this checkpoint is complete: its row, with `facts`, to `evaluations.jsonl`."""
        self.facts[(checkpoint, epoch)] = facts
        row = self._row(checkpoint, epoch)
        if self.dir is not None:
            with open(self.dir / "evaluations.jsonl", "a") as f:
                f.write(json.dumps({**row, "time": time.time()}) + "\n")
        return row

    def _row(self, checkpoint: str, epoch) -> dict:
        r = self.rows[(checkpoint, epoch)]
        return {
            "epoch": epoch,
            "checkpoint": checkpoint,
            "episodes": r.episodes,
            "mean_return": r.mean_return(),
            "success_rate": r.success_rate(),
            "reward_terms": r.reward_terms(),
            "mean_length": r.length_sum / r.episodes if r.episodes else None,
            **self.facts.get((checkpoint, epoch), {}),
        }

    def history(self) -> list[dict]:
        return [self._row(checkpoint, epoch) for checkpoint, epoch in self.rows]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
