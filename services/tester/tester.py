"""The tester: obs -> policy -> env.step -> render -> publish, with hot-reloaded weights.

`Tester.step_once()` is one control step (the swap point is at its top); `Tester.play()` is the loop
that `config=test` runs; the MuJoCo viewer (viewer.py) drives `step_once()` itself. The control
methods and the status (operations.py) may be called from any thread: HTTP handlers or the streamer.

A tester is wired from parts, each with one job, by `services.tester.build`: the task's worlds and
network (taskkit.TaskKit), the reloader that hands over new weights (reloader.py), what it shows
(broadcast.py: the stream, its status, the 3D view), its count of episodes and eval files (scores.py)
and, when asked for, its clip recorder (clips.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from .broadcast import Broadcast
from .operations import Operations
from .optional import OFF, Feature
from .policy import act
from .scores import Scores
from .training import TrainingProgress

log = logging.getLogger("tester")


@dataclass(frozen=True)
class Playing:
    """How the loop plays: the mean action or samples around it; at real time or as fast as it can."""

    deterministic: bool = True
    realtime: bool = True


class Tester(Operations):
    def __init__(
        self,
        tester_id: str,
        kit,
        reloader,
        broadcast: Broadcast,
        scores: Scores,
        clips: Feature = OFF,
        playing: Playing = Playing(),
    ):
        self.id, self.reloader, self.broadcast, self.scores = tester_id, reloader, broadcast, scores
        self.kit, self.env, self.task = kit, kit.env, kit.name  # taskkit.TaskKit: the worlds and network of a task
        self.clip_recorder, self.clips_error = clips.running, clips.error  # clips.ClipRecorder, or why there is none
        self.playing = playing
        self.training = TrainingProgress()  # the followed run's progress.json, shown with the status
        self.current = None  # reloader.Loaded now acting
        self.paused = False
        self.obs = None
        self.ep_return = 0.0  # world 0's running return, shown on frames
        self._next_step = None  # when the next control step is due (real time)

    @property
    def episodes(self) -> int:
        return self.scores.episodes

    @property
    def readers(self):
        """Who reads our frames (readers.py): `tester.readers.hold("clip")` makes frames while held."""
        return self.broadcast.readers

    # --- the loop -------------------------------------------------------------------------------
    def play(self, games: int, stop: threading.Event, tick=None) -> None:
        """Step until `games` episodes have finished (0 = until `stop` is set).

        `tick()` runs once per loop after the step (the local viewer draws there); returning False ends
        the loop (its window was closed).
        """
        self.scores.play(games)
        while not stop.is_set() and not self.scores.enough() and not self.evaluated_for_good():
            if not self.step_once():
                stop.wait(0.05)  # waiting for a checkpoint, or paused: keep status and frames alive
            if tick is not None and tick() is False:
                return
            self.broadcast.publish(self)
            self.pace()

    def evaluated_for_good(self) -> bool:
        """Seeded evaluation of one fixed .pth file is done: nothing newer can come, so the run ends."""
        ev = self.scores.evaluation
        return ev is not None and ev.complete and self.reloader.fixed

    def step_once(self) -> bool:
        """Swap in new weights if ready, then one control step. False when there is nothing to step."""
        ev = self.scores.evaluation
        if ev is None or ev.ready_for_next():  # an evaluation under way keeps its checkpoint to the end
            loaded = self.reloader.take()
            if loaded is not None and (ev is None or ev.wanted(loaded, self.reloader.pinned)):
                self.swap(loaded)
            elif loaded is not None:
                log.debug("eval: %s is at an epoch already evaluated (%s): not again", loaded.path.name, loaded.epoch)
        if self.current is None or self.paused or ev is not None and ev.complete:
            return False  # an evaluated checkpoint waits for the next: stepping on would only take CPU
        if self.obs is None:
            self.obs = self.env.reset()
        actions = act(self.current.model, self.obs, self.playing.deterministic)
        self.obs, reward, done, info = self.env.step(actions)
        self.broadcast.camera.stepped()
        episodes = info.get("episodes", ())
        if self.clip_recorder is not None:  # before `finished`: a last game's clip is written before play() ends
            episode0 = next((e for e in episodes if e["world"] == 0), None)
            self.clip_recorder.stepped(float(reward[0]), bool(done[0]), bool(info["success"][0]), episode0)
        self.ep_return = 0.0 if bool(done[0]) else self.ep_return + float(reward[0])
        for episode in episodes:
            if self.scores.enough():
                break  # several worlds can finish on the same step: N games means N
            self.scores.finished(episode, self.current)
        return True

    def swap(self, loaded) -> None:
        """The explicit swap point: between two steps, without resetting the episode."""
        if loaded.kit is not None and loaded.kit is not self.kit:
            self.retask(loaded.kit)
        old, self.current, ev = self.current, loaded, self.scores.evaluation
        fresh = ev is not None or self.obs is None  # every world starts an episode now
        self.reloader.swapped(old, loaded, ready_since=ev.completed_at if ev else None)
        self.scores.swapped(loaded, playing_on=not fresh)
        if old is not None:
            self.broadcast.frames.flash()
        if fresh:  # every world starts over: from the evaluation seed, or (the first checkpoint) as it comes
            self.obs = ev.start(self.env, loaded) if ev is not None else self.env.reset()
            self.ep_return = 0.0
            self.broadcast.camera.forget()  # a frame of this step rendered before the reset is stale
        if self.clip_recorder is not None:
            self.clip_recorder.swapped(loaded, self.scores.recorder, fresh)

    def retask(self, kit) -> None:
        """Play another task from the next step (latest_train moved to a run of another task): its worlds,
        network, frames, clips and 3D model replace this one's; every world starts an episode."""
        old, self.kit, self.env, self.task = self.env, kit, kit.env, kit.name
        self.obs, self.ep_return = None, 0.0
        self.broadcast.retask(kit)
        if self.clip_recorder is not None:
            self.clip_recorder.retask(kit.name, kit.env.dt)
        old.close()
        log.info("now playing task=%s (its worlds, network and views replace the previous task's)", kit.name)

    def pace(self) -> None:
        """Real time: one control step per env.dt, so viewers see the motion at its true speed."""
        if not self.playing.realtime or self.current is None or self.paused:
            return
        now = time.monotonic()
        if self._next_step is None or now - self._next_step > 0.25:  # far behind: do not sprint to catch up
            self._next_step = now
        self._next_step += float(self.env.dt)
        delay = self._next_step - now
        if delay > 0:
            time.sleep(delay)

    def summary(self) -> dict:
        cur, t = self.current, self.scores.totals
        return {
            "episodes": t.episodes,
            "mean_return": t.mean_return(),
            "success_rate": t.success_rate(),
            "checkpoint": str(cur.path) if cur else None,
            "epoch": cur.epoch if cur else None,
            "reloads": self.reloader.reloads,
        }

    def close(self) -> None:
        if self.clip_recorder is not None:
            self.clip_recorder.close()  # a clip under way is dropped with its temp file
        self.scores.close()
        self.broadcast.close()
