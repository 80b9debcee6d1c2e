"""The tester's count of finished episodes: what the summary, the status and the eval files say.

- `totals`: every counted episode of this process (the summary's, the status's `episodes`);
- `per_ckpt`: the current checkpoint's own episodes (the status's means), in complete rounds of the
  worlds while they play on (evalrec.RoundStats), every one in a seeded evaluation;
- `recorder`: the eval files of the run each checkpoint comes from (evalrec.EvalRecorder, one per run).

An episode running at a swap began under the previous checkpoint: it is written, marked `spans_reload`,
and credited to neither. `testGamesNum=N` counts each world's first few episodes (evaluation.Quota),
and a seeded evaluation (evaluation.py) its own K; episodes past either play on unrecorded.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .evalrec import EpisodeStats, EvalRecorder, RoundStats, eval_dir_for
from .evaluation import Evaluation, Quota

log = logging.getLogger("tester")


class Scores:
    def __init__(self, tester_id: str, num_envs: int, test_experiment: Path | None, evaluation: Evaluation | None):
        self.id, self.num_envs, self.test_experiment = tester_id, num_envs, test_experiment
        self.evaluation = evaluation  # seeded evaluation mode, None = play on
        self.recorder = EvalRecorder(None)
        self._recorder_for = object()  # the run `recorder` writes into
        self.totals = EpisodeStats()
        self.per_ckpt = EpisodeStats()
        self.spanning: set[int] = set()  # worlds whose running episode began under the previous checkpoint
        self.games = 0  # episodes to play, 0 = forever
        self.quota: Quota | None = None  # those games' per-world quota (no seeded evaluation)

    @property
    def episodes(self) -> int:
        return self.totals.episodes

    def play(self, games: int) -> None:
        """Count `games` episodes (0: until stopped)."""
        self.games = games
        self.quota = Quota(games, self.num_envs) if games and self.evaluation is None else None

    def enough(self) -> bool:
        return bool(self.games) and self.episodes >= self.games

    def swapped(self, loaded, playing_on: bool) -> None:
        """`loaded` acts from the next step; `playing_on`: the worlds were not reset, so the episodes
        running now began under the previous checkpoint."""
        ev = self.evaluation
        self.per_ckpt = EpisodeStats() if ev is not None else RoundStats(self.num_envs)
        if loaded.experiment != self._recorder_for:  # first checkpoint, or latest_train moved
            self.recorder.close()
            rounds = None if ev is not None else self.num_envs
            self.recorder = EvalRecorder(eval_dir_for(loaded.experiment, self.test_experiment, self.id), rounds)
            self._recorder_for = loaded.experiment
        if ev is not None:  # every world starts over from the evaluation seed
            self.recorder.restart(loaded.path.name, loaded.epoch)
        self.spanning = set(range(self.num_envs)) if playing_on else set()

    def finished(self, episode: dict, cur) -> None:
        """A world's episode ended under `cur` (reloader.Loaded)."""
        ev, world = self.evaluation, int(episode["world"])
        if ev is not None and not ev.counts(episode):
            return  # a world past its quota plays on unrecorded
        if self.quota is not None and not self.quota.take(world):
            return  # testGamesNum=N: likewise
        credit = world not in self.spanning
        self.spanning.discard(world)
        self.recorder.record(episode, cur.path.name, cur.epoch, frame=cur.frame, credit=credit)
        self.totals.add(episode)
        if credit:
            self.per_ckpt.add(episode)
        if ev is not None and ev.complete:
            row = self.recorder.evaluated(cur.path.name, cur.epoch, **ev.facts())
            log.info(
                "evaluated %s (epoch %s): mean return %.2f, success %.0f%%, %d episodes in %.1f s",
                cur.path.name,
                cur.epoch,
                row["mean_return"],
                100 * row["success_rate"],
                row["episodes"],
                row["eval_s"],
            )

    def close(self) -> None:
        self.recorder.close()
