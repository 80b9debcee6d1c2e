"""Seeded evaluation (`test.eval.episodes: K > 0`): every checkpoint plays the same K episodes.

For each checkpoint it swaps in, the tester resets every world with `env.reset(seed=test.eval.seed)`
and counts a fixed set of K episodes: world w's first quota[w] episodes (K spread over the worlds).
After reset(seed) world w's j-th episode starts from the same draws whatever the policy, so every
checkpoint meets the same K initial states, and a policy that ends episodes sooner is not sampled
differently. The reset starts every counted episode, so none began under the previous checkpoint.
A newer checkpoint is swapped in only when the evaluation is complete; meanwhile the reloader keeps
only the newest, so checkpoints that land during an evaluation may be skipped (the log says which).
"""

from __future__ import annotations

import logging
import time

from .reloader import passed_over

log = logging.getLogger("tester.eval")


class Quota:
    """World w's first quota[w] finished episodes, K spread over the worlds (lower worlds take the remainder).

    Counting the first K episodes that *end* instead is biased: an episode that fails early ends sooner
    than one that succeeds and runs its full length, so failures fill the count first. The per-world
    quota counts the same episodes whatever their length (`testGamesNum=N` counts this way too).
    """

    def __init__(self, episodes: int, num_envs: int):
        self.episodes = int(episodes)
        base, extra = divmod(self.episodes, num_envs)
        self.quota = [base + (w < extra) for w in range(num_envs)]
        self.counted = [0] * num_envs

    @property
    def full(self) -> bool:
        return sum(self.counted) >= self.episodes

    def take(self, world: int) -> bool:
        """Whether world's episode that just finished is one of the K (and count it)."""
        if self.counted[world] >= self.quota[world]:
            return False
        self.counted[world] += 1
        return True

    def restart(self) -> None:
        self.counted = [0] * len(self.quota)


class Evaluation:
    def __init__(self, episodes: int, seed: int, num_envs: int):
        self.episodes, self.seed = int(episodes), int(seed)
        self.quota = Quota(self.episodes, num_envs)
        self.checkpoint = None  # the reloader.Loaded under evaluation
        self.started = self.seconds = None
        self.completed_at: float | None = None  # Unix time the last evaluation completed (reload latency)

    @property
    def complete(self) -> bool:
        return self.checkpoint is not None and self.quota.full

    def ready_for_next(self) -> bool:
        """Whether the loop may take the next checkpoint: nothing evaluated yet, or this one is done."""
        return self.checkpoint is None or self.complete

    def wanted(self, loaded, pinned) -> bool:
        """A checkpoint of the same run at an epoch already evaluated (the best file rewritten beside the
        periodic one of that epoch) would only repeat a row; a pinned one is always played."""
        cur = self.checkpoint
        if pinned or cur is None or loaded.experiment != cur.experiment or None in (loaded.epoch, cur.epoch):
            return True
        return loaded.epoch > cur.epoch

    def start(self, env, loaded):
        """Reset every world from the evaluation seed for `loaded`; returns the first observations."""
        skipped = passed_over(self.checkpoint, loaded)
        self.checkpoint = loaded
        self.quota.restart()
        self.started, self.seconds = time.monotonic(), None
        log.info(
            "evaluating %s (epoch %s, %s env-steps): %d episodes from seed %d%s",
            loaded.path.name,
            loaded.epoch,
            _count(loaded.frame),
            self.episodes,
            self.seed,
            f"; skipped {len(skipped)} that landed meanwhile (epochs {', '.join(map(str, skipped))})"
            if skipped
            else "",
        )
        return env.reset(seed=self.seed)

    def counts(self, episode: dict) -> bool:
        """Whether this finished episode is one of the K (and count it)."""
        if self.checkpoint is None or self.complete or not self.quota.take(int(episode["world"])):
            return False
        if self.complete:
            self.seconds = time.monotonic() - self.started
            self.completed_at = time.time()
        return True

    def facts(self) -> dict:
        """What an eval row adds to the episode aggregates: when and how it was measured."""
        cp = self.checkpoint
        return {
            "frame": cp.frame,
            "seed": self.seed,
            "eval_s": round(self.seconds, 3),
            "saved_at": cp.key[1] / 1e9 if cp.key else None,
        }  # the file's mtime: when training wrote it


def _count(n) -> str:
    return "?" if n is None else f"{int(n):,}"
