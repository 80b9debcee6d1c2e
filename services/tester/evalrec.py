"""Per-checkpoint evaluation, one folder per tester (`eval/<tester id>/`): every finished episode to
`episodes.jsonl`, aggregates to TensorBoard, and in eval mode one row per evaluated checkpoint to
`evaluations.jsonl` (what learning curves read).

Users see each tester's eval return vs checkpoint epoch as a TensorBoard run of its own next to the training
curves (`<experiment>/summaries` and `<experiment>/eval/<tester id>`); two testers of one run never share a
file. A tester restarted under the same id finds its folder again and carries on with its history.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.core.logs import append_bounded

log = logging.getLogger("tester.eval")


def safe_name(text: str) -> str:
    """A tester id as a folder name: letters, digits, '_', '.', '-' only."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(text)).lstrip(".") or "tester"


def eval_dir_for(train_experiment, test_experiment, tester_id: str) -> Path | None:
    """Where a tester's evaluation of `train_experiment` goes: `<that run>/eval/<tester id>/` when it is
    writable (local runs), else `<the tester's out dir>/<that run's name>/eval/<tester id>/` (runs mounted
    read-only: the same relative path in the testers' own folder, so TensorBoard over both roots lines them up,
    and a restarted tester finds it again), else its test experiment's `eval/<tester id>/`."""
    name = safe_name(tester_id)
    candidates = []
    if train_experiment is not None:
        candidates.append(Path(train_experiment) / "eval" / name)
        if test_experiment is not None:
            candidates.append(Path(test_experiment).parent / Path(train_experiment).name / "eval" / name)
    if test_experiment is not None:
        candidates.append(Path(test_experiment) / "eval" / name)
    for d in candidates:
        try:
            d.mkdir(parents=True, exist_ok=True)
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
    ended_by: dict = field(default_factory=dict)  # termination cause -> episodes it ended
    ended: float = 0  # episodes that said how they ended (older records did not)

    def add(self, episode: dict) -> None:
        self.episodes += 1
        self.return_sum += float(episode["return"])
        self.successes += int(bool(episode.get("success", False)))
        self.length_sum += int(episode.get("length", 0))
        for name, value in (episode.get("reward_terms") or {}).items():
            self.term_sums[name] = self.term_sums.get(name, 0.0) + float(value)
        if episode.get("termination"):
            self.ended += 1
            self.ended_by[episode["termination"]] = self.ended_by.get(episode["termination"], 0) + 1

    def mean_return(self) -> float | None:
        return self.return_sum / self.episodes if self.episodes else None

    def success_rate(self) -> float | None:
        return self.successes / self.episodes if self.episodes else None

    def reward_terms(self) -> dict | None:
        """Mean per-episode sum of each (scaled) reward term."""
        return {k: v / self.episodes for k, v in self.term_sums.items()} if self.episodes else None

    def terminations(self) -> dict | None:
        """The fraction of episodes each cause ended (a task's failure, or timeLimit...), commonest first;
        causes that ended none are left out."""
        if not self.ended:
            return None
        return {k: v / self.ended for k, v in sorted(self.ended_by.items(), key=lambda kv: (-kv[1], kv[0]))}

    @classmethod
    def of_row(cls, row: dict) -> EpisodeStats:
        """The sums behind an evaluation row (`evaluations.jsonl`): its means times its episodes."""
        n = int(row.get("episodes") or 0)
        return cls(
            episodes=n,
            return_sum=(row.get("mean_return") or 0.0) * n,
            successes=round((row.get("success_rate") or 0.0) * n),
            length_sum=round((row.get("mean_length") or 0.0) * n),
            term_sums={k: v * n for k, v in (row.get("reward_terms") or {}).items()},
            ended_by={k: v * n for k, v in (row.get("terminations") or {}).items()},
            ended=n if row.get("terminations") else 0,
        )


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a JSONL file; a torn last line (a killed writer) and a missing file are skipped."""
    try:
        text = path.read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


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
        self.evaluated_keys: list[tuple] = []  # seeded evaluations completed, in order
        self.last_key: tuple | None = None  # the row an episode was last credited to
        self.endings_seen: set[str] = set()  # termination causes in any row so far (their TensorBoard curves)
        self.writer = None
        self._write_failed = False
        if self.dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # heavy import: only when recording

            self._load()
            self.writer = SummaryWriter(log_dir=str(self.dir), flush_secs=5)
            log.info(
                "eval episodes -> %s%s",
                self.dir / "episodes.jsonl",
                f" (carrying on: {len(self.rows)} checkpoints recorded before)" if self.rows else "",
            )

    def _load(self) -> None:
        """What this tester recorded here before (it restarted): the eval chart and last() carry on."""
        older = read_jsonl(self.dir / "episodes.1.jsonl")  # where a bounded episodes.jsonl rolls over, if it does
        for line in older + read_jsonl(self.dir / "episodes.jsonl"):
            if line.get("spans_reload") or "return" not in line:
                continue
            key = (line.get("checkpoint"), line.get("epoch"))
            self.rows.setdefault(key, EpisodeStats()).add(line)
            self.facts.setdefault(key, {"frame": line.get("frame")})
            self.last_key = key
        for row in read_jsonl(self.dir / "evaluations.jsonl"):
            key = (row.get("checkpoint"), row.get("epoch"))
            self.rows[key] = EpisodeStats.of_row(row)  # the evaluation's own figures, not every episode seen
            self.facts[key] = {k: row[k] for k in ("frame", "seed", "eval_s", "saved_at") if k in row}
            self.evaluated_keys.append(key)

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
        if frame is not None:
            line["frame"] = int(frame)  # env-steps trained: the history read back after a restart keeps it
        if episode.get("reward_terms"):
            line["reward_terms"] = {k: round(float(v), 6) for k, v in episode["reward_terms"].items()}
        if episode.get("termination"):  # how it ended: a cause of the task's, or timeLimit
            line["termination"] = episode["termination"]
        if episode.get("metrics"):  # the task's metrics on the last step (BlindGrasping: best_lift, stage...)
            line["metrics"] = {k: round(float(v), 6) for k, v in episode["metrics"].items()}
        if not credit:
            line["spans_reload"] = True
        else:
            row = self.rows.setdefault((checkpoint, epoch), self.stats())
            row.add(episode)
            self.facts.setdefault((checkpoint, epoch), {"frame": frame})
            self.last_key = (checkpoint, epoch)
        if self.dir is None:
            return
        try:
            append_bounded(self.dir / "episodes.jsonl", json.dumps(line) + "\n")  # then episodes.1.jsonl
        except OSError as e:  # a full disk, the folder moved to the archive: the tester plays on
            if not self._write_failed:
                log.warning("eval episodes not written: %s", e)
            self._write_failed = True
            return
        self._write_failed = False
        if credit and self.writer is not None and epoch is not None and row.episodes:
            # Re-written as episodes accrue: the last point per epoch holds the full aggregate.
            self.writer.add_scalar("eval/mean_return", row.mean_return(), epoch)
            self.writer.add_scalar("eval/success_rate", row.success_rate(), epoch)
            self.writer.add_scalar("eval/episode_length", row.length_sum / row.episodes, epoch)
            self.writer.add_scalar("eval/episodes", row.episodes, epoch)
            for name, mean in row.reward_terms().items():
                self.writer.add_scalar(f"eval/reward/{name}", mean, epoch)
            shares = row.terminations() or {}
            self.endings_seen.update(shares)  # a cause seen once gets a point (0 or more) at every epoch after
            for name in sorted(self.endings_seen):
                self.writer.add_scalar(f"eval/termination/{name}", shares.get(name, 0.0), epoch)

    def stats(self) -> EpisodeStats:
        return RoundStats(self.rounds) if self.rounds else EpisodeStats()

    def restart(self, checkpoint: str, epoch) -> None:
        """A seeded evaluation of this checkpoint begins: its row holds that evaluation's episodes only."""
        self.rows[(checkpoint, epoch)] = EpisodeStats()
        self.facts.pop((checkpoint, epoch), None)

    def evaluated(self, checkpoint: str, epoch, **facts) -> dict:
        """The evaluation of this checkpoint is complete: its row, with `facts`, to `evaluations.jsonl`."""
        self.facts[(checkpoint, epoch)] = facts
        self.evaluated_keys.append((checkpoint, epoch))
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
            "terminations": r.terminations(),
            "mean_length": r.length_sum / r.episodes if r.episodes else None,
            **self.facts.get((checkpoint, epoch), {}),
        }

    def history(self) -> list[dict]:
        return [self._row(checkpoint, epoch) for checkpoint, epoch in self.rows]

    def last(self) -> dict | None:
        """The last evaluation: the last seeded evaluation completed, else (playing on) the checkpoint an
        episode was last credited to — the one playing once it finished an episode, until then the one
        before. `{"epoch", "episodes", "mean_return", "success_rate"}`, or None before any."""
        key = self.evaluated_keys[-1] if self.evaluated_keys else self.last_key
        if key is None or key not in self.rows:
            return None
        r = self.rows[key]
        return {
            "epoch": key[1],
            "episodes": r.episodes,
            "mean_return": r.mean_return(),
            "success_rate": r.success_rate(),
        }

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
