"""What a person watching training sees: a progress line every few epochs, a bar on a terminal,
success-rate, per-reward-term and per-termination-cause scalars next to rl_games' own TensorBoard
summaries, and
`<experiment>/progress.json` (rewritten every epoch) that sync mirrors and testers show on the dashboard.

It is an rl_games AlgoObserver: rl_games calls `process_infos` after every env step and
`after_print_stats` once per epoch. It is also where a stop request enters rl_games' loop.
"""

from __future__ import annotations

import collections
import logging
import math
import sys
import time

from rl_games.common.algo_observer import AlgoObserver
from tqdm import tqdm

log = logging.getLogger("trainer")


class StopRequested(Exception):
    """Raised inside rl_games' loop (from the observer) to leave `agent.train()`."""


class Progress(AlgoObserver):
    def __init__(
        self,
        max_epochs: int | None,
        print_interval: int,
        stop_flag,
        window: int = 100,
        experiment=None,
        keeper=None,
        endings: tuple[str, ...] = (),
    ):
        # max_epochs None: until stopped (no bar total, no ETA)
        self.max_epochs, self.print_interval, self.stop = max_epochs, print_interval, stop_flag
        self.endings = endings  # every way an episode can end (env.endings): each gets its scalar from the start
        self.experiment = experiment  # progress.json goes here (None: no file)
        self.keeper = keeper  # keeper.Keeper: disk figures for the file, its once-an-epoch tick (None: none)
        self.recent = collections.deque(maxlen=11)  # (time, frame, epoch) of the last epochs: rates for the file
        self.successes = collections.deque(maxlen=window)  # of the last finished episodes
        self.ended_by = collections.deque(maxlen=window)  # how the last finished episodes ended (a name of endings)
        self.term_sums: dict = {}  # reward term -> sum over this epoch's steps of its mean over worlds
        self.term_steps = 0
        self.term_means: dict[str, float] = {}  # the last finished epoch's per-step means
        self.algo = None
        self.completed_epoch = 0
        self.bar = None

    # --- rl_games hooks ------------------------------------------------------------------------
    def after_init(self, algo):
        self.algo = algo

    def process_infos(self, infos, done_indices):
        if not isinstance(infos, dict):
            return
        for episode in infos.get("episodes", ()):
            if "success" in episode:
                self.successes.append(float(episode["success"]))
            if "termination" in episode:
                self.ended_by.append(episode["termination"])
        for name, value in infos.get("reward_terms", {}).items():  # summed on the device, read once an epoch
            self.term_sums[name] = self.term_sums.get(name, 0.0) + value.mean()
        self.term_steps += 1
        if self.stop.is_set():  # mid-rollout: the weights are those of the last finished epoch
            raise StopRequested

    def after_print_stats(self, frame, epoch_num, total_time):
        self.completed_epoch = epoch_num
        self.term_means = {k: float(v) / self.term_steps for k, v in self.term_sums.items()}
        self.term_sums, self.term_steps = {}, 0
        success = self.success_rate()
        if self.algo.writer is not None:
            for name, mean in self.term_means.items():
                self.algo.writer.add_scalar(f"reward/{name}", mean, self.algo.frame)
            for name, share in (self.termination_shares() or {}).items():
                self.algo.writer.add_scalar(f"termination/{name}", share, self.algo.frame)
        if success is not None and self.algo.writer is not None:
            # rl_games passes the frame count of the previous epoch; algo.frame is this one's.
            self.algo.writer.add_scalar("success_rate/step", success, self.algo.frame)
            self.algo.writer.add_scalar("success_rate/iter", success, epoch_num)
            self.algo.writer.add_scalar("success_rate/time", success, total_time)
        self._report(epoch_num)
        if self.keeper is not None:
            self.keeper.tick()
        self.recent.append((time.monotonic(), self.algo.frame, epoch_num))
        self._write("training")
        if self.stop.is_set():
            raise StopRequested

    # --- our side ------------------------------------------------------------------------------
    def start(self, first_epoch: int):
        """Call once the agent is built (and restored): epochs before `first_epoch` were not ours."""
        self.start_epoch = self.completed_epoch = first_epoch
        self.start_time = self.last_time = time.monotonic()
        self.last_frame = self.algo.frame
        self.recent.append((self.start_time, self.algo.frame, first_epoch))
        self.bar = tqdm(
            total=self.max_epochs,
            initial=first_epoch,
            unit="epoch",
            dynamic_ncols=True,
            disable=not sys.stderr.isatty(),
            leave=False,
        )

    def close(self):
        """The run ends: the file says so at once (a tester need not wait for it to go stale)."""
        if self.bar is not None:
            self.bar.close()
        if self.algo is not None and self.recent:
            if self.keeper is not None:
                self.keeper.measure()
            done = self.max_epochs is not None and self.completed_epoch >= self.max_epochs
            self._write("finished" if done else "stopped")

    def _write(self, state: str) -> None:
        """progress.json: where training stands, for people far from this terminal (the dashboard)."""
        if self.experiment is None:
            return
        from services.core.experiments import write_progress

        (t0, f0, e0), (t1, f1, e1) = self.recent[0], self.recent[-1]
        epoch_s = (t1 - t0) / (e1 - e0) if e1 > e0 else None
        remaining = None if self.max_epochs is None else max(self.max_epochs - self.completed_epoch, 0)
        ret, success = self.mean_return(), self.success_rate()
        try:
            write_progress(
                self.experiment,
                {
                    "state": state,
                    "epoch": self.completed_epoch,
                    "max_epochs": self.max_epochs,
                    "env_steps": int(self.algo.frame),
                    "env_steps_per_s": round((f1 - f0) / (t1 - t0), 1) if t1 > t0 else None,
                    "mean_return": ret,
                    "success_rate": success,
                    "epoch_s": epoch_s,
                    "eta_s": round(epoch_s * remaining) if epoch_s is not None and remaining is not None else None,
                    "updated": time.time(),
                    **(self.keeper.report() if self.keeper is not None else {}),
                },
            )
        except OSError as e:  # a full disk must not stop training; the checkpoints matter more
            log.warning("progress.json not written: %s", e)

    def mean_return(self) -> float | None:
        meter = self.algo.game_rewards
        return float(meter.get_mean()[0]) if meter.current_size > 0 else None

    def success_rate(self) -> float | None:
        return sum(self.successes) / len(self.successes) if self.successes else None

    def termination_shares(self) -> dict[str, float] | None:
        """How the last finished episodes ended: the fraction of them per ending (they sum to 1)."""
        if not self.ended_by:
            return None
        counts = collections.Counter(self.ended_by)
        names = list(self.endings) + [n for n in counts if n not in self.endings]
        return {name: counts[name] / len(self.ended_by) for name in names}

    def _report(self, epoch: int):
        ret, success = self.mean_return(), self.success_rate()
        ret_text = "n/a" if ret is None else f"{ret:.2f}"
        success_text = "n/a" if success is None else f"{100 * success:.0f}%"
        self.bar.update(1)
        self.bar.set_postfix_str(f"return {ret_text} success {success_text}", refresh=False)
        if (epoch - self.start_epoch) % self.print_interval and epoch != self.max_epochs:
            return
        now = time.monotonic()
        steps_per_s = (self.algo.frame - self.last_frame) / max(now - self.last_time, 1e-9)
        self.last_time, self.last_frame = now, self.algo.frame
        per_epoch = (now - self.start_time) / max(epoch - self.start_epoch, 1)
        if self.max_epochs is None:
            of, eta = "", "until stopped"
        else:
            of, eta = f"/{self.max_epochs}", "ETA " + _duration(per_epoch * max(self.max_epochs - epoch, 0))
        log.info(
            "epoch %d%s | %s env-steps/s | mean return %s | success %s | %s%s%s",
            epoch,
            of,
            f"{steps_per_s:,.0f}",
            ret_text,
            success_text,
            eta,
            self._largest_terms(),
            self._main_endings(),
        )

    def _largest_terms(self, k: int = 3) -> str:
        """The k reward terms that weigh most per step, e.g. ' | per step: contact +0.40, lift +0.12'."""
        top = sorted(((n, v) for n, v in self.term_means.items() if v), key=lambda kv: -abs(kv[1]))[:k]
        return " | per step: " + ", ".join(f"{name} {v:+.3g}" for name, v in top) if top else ""

    def _main_endings(self, k: int = 3) -> str:
        """The k commonest early endings of the last episodes, e.g. ' | ended early: stageTimeout 20%, ...'
        (the time limit, where an episode that nothing cut short ends, is left out)."""
        from services.sim.env import TIME_LIMIT

        shares = self.termination_shares() or {}
        top = sorted(((n, v) for n, v in shares.items() if v and n != TIME_LIMIT), key=lambda kv: -kv[1])[:k]
        return " | ended early: " + ", ".join(f"{name} {100 * v:.0f}%" for name, v in top) if top else ""


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"
