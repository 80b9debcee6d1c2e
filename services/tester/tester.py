"""The tester: obs -> policy -> env.step -> render -> publish, with hot-reloaded weights.

`Tester.step_once()` is one control step (the swap point is at its top); `Tester.play()` is the loop
that `config=test` runs; the MuJoCo viewer (viewer.py) drives `step_once()` itself. The control
methods (status, reload_now, pin, ...) may be called from any thread: HTTP handlers or the streamer.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from pathlib import Path

from services.core.checkpoints import epoch_of, list_checkpoints
from services.core.config import reload_interval

from .evalrec import EpisodeStats, EvalRecorder, RoundStats, eval_dir_for
from .evaluation import Evaluation, Quota
from .frames import FrameMaker, RateLimiter
from .policy import act
from .readers import Readers
from .training import TrainingProgress

log = logging.getLogger("tester")
STATUS_PERIOD_S = 1.0
# Not rendering: the status goes 4x as often, since its answer is how a new viewer's arrival is learnt
# (readers.py): frames then flow within a fraction of a second.
IDLE_STATUS_PERIOD_S = 0.25
FPS_STALE_S = 2.0  # no frame for this long: the status says 0 fps (nobody reads, so nothing is rendered)


class Tester:
    def __init__(
        self,
        tester_id: str,
        kit,
        reloader,
        frames: FrameMaker | None = None,
        publisher=None,
        fps: float = 25,
        render: dict | None = None,
        deterministic: bool = True,
        realtime: bool = True,
        test_experiment: Path | None = None,
        control_url: str | None = None,
        evaluation: Evaluation | None = None,
    ):
        self.id, self.reloader = tester_id, reloader
        self.kit, self.env, self.task = kit, kit.env, kit.name  # taskkit.TaskKit: the worlds and network of a task
        self.evaluation = evaluation  # seeded evaluation mode (evaluation.py), None = play on
        self.frames, self.publisher, self.render_args = frames, publisher, render or {}
        self.deterministic, self.realtime = deterministic, realtime
        self.test_experiment, self.control_url = test_experiment, control_url
        self.limiter = RateLimiter(fps)
        self.readers = Readers()  # render only while someone reads frames (readers.py)
        self.frame_listeners: list = []  # callables(jpeg bytes) given every frame made, e.g. a clip recorder
        self.view3d = None  # view3d.View3D when test.view3d.enabled: world 0 in MuJoCo's web viewer
        self.view3d_error: str | None = None  # why there is none although it was asked for (optional.py)
        self.current = None  # reloader.Loaded now acting
        self.paused = False
        self.recorder = EvalRecorder(None)
        self._recorder_for = object()
        self.totals = EpisodeStats()  # every episode of this run, for the summary
        self.per_ckpt = EpisodeStats()  # the episodes of the current checkpoint, for the status
        self.spanning: set[int] = set()  # worlds whose running episode began under the previous checkpoint
        self.ep_return = 0.0  # world 0's running return, shown on frames
        self.training = TrainingProgress()  # the followed run's progress.json, shown with the status
        self.frame_times = collections.deque(maxlen=50)
        self.frames_published = 0
        self.clip_recorder = None  # clips.ClipRecorder when test.clips.enabled (wired by build())
        self.clips_error: str | None = None
        self.steps = 0  # control steps taken (the rendered frame's age is counted in them)
        self._rendered = None  # (steps, rgb): world 0's frame, rendered at most once per step
        self.obs = None
        self.games = 0  # episodes to play, 0 = forever (set by play/watch)
        self.quota = None  # Quota of those games (no seeded evaluation): each world's first few, not the first to end
        self._next_status = 0.0
        self._next_step = None

    @property
    def episodes(self) -> int:
        return self.totals.episodes

    # --- control (any thread) -------------------------------------------------------------------
    def _state(self, cur) -> str:
        if cur is None:
            return "waiting"
        if self.paused:
            return "paused"
        return "evaluated" if self.evaluation and self.evaluation.complete else "running"

    def status(self) -> dict:
        cur, r, ck = self.current, self.reloader, self.per_ckpt
        times = list(self.frame_times)
        fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        if times and time.monotonic() - times[-1] > FPS_STALE_S:
            fps = 0.0
        exp = (cur.experiment if cur else None) or r.experiment
        due = r.due_in() if cur is not None else None
        return {
            "id": self.id,
            "task": self.task,
            "experiment": exp.name if exp else None,
            "checkpoint": self._show_path(cur.path) if cur else None,
            "epoch": cur.epoch if cur else None,
            "checkpoint_env_steps": cur.frame if cur else None,
            "reloads": r.reloads,
            "reloads_refused": r.refused,
            "reloads_skipped": r.skipped,
            "reload_latency": r.latency.snapshot(),
            "last_reload_time": r.last_reload_time,
            "last_reload_error": r.last_error,
            "reload_interval": r.interval,
            "next_reload_in": None if due is None else round(due, 1),
            "paused": self.paused,
            "pinned": self._show_path(r.pinned) if r.pinned else None,
            "episodes": self.episodes,
            "successes": self.totals.successes,
            "mean_return": ck.mean_return(),
            "success_rate": ck.success_rate(),
            "reward_terms": ck.reward_terms(),
            "last_eval": self.recorder.last(),
            "fps": round(fps, 1),
            "frames_rendered": self.frames_published,
            "training": self.training.of(exp),
            "last_checkpoint_time": self.training.last_checkpoint_time(exp),
            "state": self._state(cur),
            "control_url": self.control_url,
            "readers": self.readers.count(),
            "rendering": self.readers.wanted(self.publisher is not None),
            "view3d_url": self.view3d.url if self.view3d else None,
            "view3d_port": self.view3d.port if self.view3d else None,
            "view3d_viewers": self.view3d.viewers if self.view3d else None,
            "view3d_error": self.view3d_error,
            "clips_error": self.clips_error,
        }

    def streamer_said(self, reply: dict) -> None:
        """The streamer's answer to a status or frame: how many read our frames, where our 3D view is."""
        if isinstance(reply.get("readers"), int):
            self.readers.set_remote(reply["readers"])
        if self.view3d is not None and "view3d_url" in reply:
            self.view3d.public_url = reply["view3d_url"]

    def reload_now(self) -> dict:
        self.reloader.reload_now()
        return self.status()

    def set_reload_interval(self, seconds) -> dict:
        try:
            seconds = reload_interval(seconds)
        except ValueError as e:
            raise ValueError(f"seconds: {e}") from None
        self.reloader.set_interval(seconds)
        log.info("reload interval set to %s s", seconds)
        return self.status()

    def pin(self, checkpoint) -> dict:
        path = self.reloader.pin(checkpoint)
        log.info("pinned %s", path)
        return self.status()

    def unpin(self) -> dict:
        self.reloader.unpin()
        return self.status()

    def pause(self) -> dict:
        self.paused = True
        return self.status()

    def resume(self) -> dict:
        self.paused = False
        self._next_step = None
        return self.status()

    def checkpoints(self) -> list[dict]:
        out = []
        for p in list_checkpoints(self.reloader.experiment) if self.reloader.experiment else []:
            try:
                mtime = p.stat().st_mtime
            except OSError:
                continue
            out.append({"path": self._show_path(p), "name": p.name, "epoch": epoch_of(p), "mtime": mtime})
        return out

    def eval_history(self) -> list[dict]:
        return self.recorder.history()

    def clips(self) -> list[dict]:
        """This tester's complete clips (their sidecars plus `name`), by epoch."""
        return self.clip_recorder.clips() if self.clip_recorder is not None else []

    def clip_file(self, name: str):
        """The path of the clip video called `name`, or None (in-process streamers serve it from here)."""
        return self.clip_recorder.clip_file(name) if self.clip_recorder is not None else None

    def _show_path(self, path) -> str:
        """Paths relative to the runs root: what pin accepts, and valid in every container."""
        try:
            return Path(path).resolve().relative_to(self.reloader.runs_dir.resolve()).as_posix()
        except ValueError:
            return str(path)

    # --- the loop -------------------------------------------------------------------------------
    def play(self, games: int, stop: threading.Event, tick=None) -> None:
        """Step until `games` episodes have finished (0 = until `stop` is set).

        `tick()` runs once per loop after the step (the local viewer draws there); returning False ends
        the loop (its window was closed).
        """
        self.games = games
        self.quota = Quota(games, self.env.num_envs) if games and self.evaluation is None else None
        while not stop.is_set() and not (games and self.episodes >= games) and not self.evaluated_for_good():
            if not self.step_once():
                stop.wait(0.05)  # waiting for a checkpoint, or paused: keep status and frames alive
            if tick is not None and tick() is False:
                return
            self.publish()
            self.pace()

    def evaluated_for_good(self) -> bool:
        """Seeded evaluation of one fixed .pth file is done: nothing newer can come, so the run ends."""
        ev = self.evaluation
        return ev is not None and ev.complete and self.reloader.fixed

    def step_once(self) -> bool:
        """Swap in new weights if ready, then one control step. False when there is nothing to step."""
        ev = self.evaluation
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
        actions = act(self.current.model, self.obs, self.deterministic)
        self.obs, reward, done, info = self.env.step(actions)
        self.steps += 1
        if self.clip_recorder is not None:  # before `finished`: a last game's clip is written before play() ends
            self.clip_recorder.stepped(
                float(reward[0]),
                bool(done[0]),
                bool(info["success"][0]),
                next((e for e in info.get("episodes", ()) if e["world"] == 0), None),
            )
        self.ep_return += float(reward[0])
        if bool(done[0]):
            self.ep_return = 0.0
        for episode in info.get("episodes", ()):
            if self.games and self.episodes >= self.games:
                break  # several worlds can finish on the same step: N games means N
            self.finished(episode)
        return True

    def swap(self, loaded) -> None:
        """The explicit swap point: between two steps, without resetting the episode."""
        if loaded.kit is not None and loaded.kit is not self.kit:
            self.retask(loaded.kit)
        old, self.current = self.current, loaded
        fresh = self.evaluation is not None or self.obs is None  # every world starts an episode now
        self.reloader.swapped(old, loaded, ready_since=self.evaluation.completed_at if self.evaluation else None)
        # worlds that play on: counted in complete rounds, not short failures first (evalrec.RoundStats)
        self.per_ckpt = EpisodeStats() if self.evaluation is not None else RoundStats(self.env.num_envs)
        if self.frames is not None and old is not None:
            self.frames.flash()
        if loaded.experiment != self._recorder_for:  # first checkpoint, or latest_train moved
            self.recorder.close()
            rounds = None if self.evaluation is not None else self.env.num_envs
            self.recorder = EvalRecorder(eval_dir_for(loaded.experiment, self.test_experiment, self.id), rounds)
            self._recorder_for = loaded.experiment
        if self.evaluation is not None:  # every world starts over from the evaluation seed
            self.obs, self.ep_return, self.spanning = self.evaluation.start(self.env, loaded), 0.0, set()
            self.recorder.restart(loaded.path.name, loaded.epoch)
        elif self.obs is not None:  # the episodes running now began under `old`: not this one's to credit
            self.spanning = set(range(self.env.num_envs))
        if self.obs is None:  # the first checkpoint: its first episode starts here
            self.obs, self.ep_return = self.env.reset(), 0.0
        if fresh:
            self._rendered = None  # a frame of this step rendered before the reset is stale
        if self.clip_recorder is not None:
            self.clip_recorder.swapped(loaded, self.recorder, fresh)

    def retask(self, kit) -> None:
        """Play another task from the next step (latest_train moved to a run of another task): its worlds,
        network, frames, clips and 3D model replace this one's; every world starts an episode."""
        old, self.kit, self.env, self.task = self.env, kit, kit.env, kit.name
        self.obs, self._rendered, self.ep_return, self.spanning = None, None, 0.0, set()
        if self.frames is not None:
            self.frames.task = kit.name
        if self.clip_recorder is not None:
            self.clip_recorder.retask(kit.name, kit.env.dt)
        if self.view3d is not None:
            self._in_view3d(self.view3d.show, *kit.env.world(0))
        old.close()
        log.info("now playing task=%s (its worlds, network and views replace the previous task's)", kit.name)

    def _in_view3d(self, call, *args) -> None:
        """The 3D view is an extra: if it fails while running, it goes, and the tester plays on."""
        try:
            call(*args)
        except Exception as e:  # noqa: BLE001
            self.view3d_error = f"{type(e).__name__}: {e}"
            log.warning("3D view stopped: %s; the tester tests, hot-reloads and streams without it", self.view3d_error)
            view, self.view3d = self.view3d, None
            view.close()

    def finished(self, episode: dict) -> None:
        cur, ev = self.current, self.evaluation
        if ev is not None and not ev.counts(episode):
            return  # a world past its quota plays on unrecorded
        if self.quota is not None and not self.quota.take(int(episode["world"])):
            return  # testGamesNum=N: likewise
        credit = int(episode["world"]) not in self.spanning
        self.spanning.discard(int(episode["world"]))
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

    def publish(self) -> None:
        if self.view3d is not None:
            self._in_view3d(self.view3d.publish, self)
        now = time.monotonic()
        publishing = self.publisher is not None
        rendering = self.readers.wanted(publishing)
        if self.frames is not None and rendering and self.limiter.due(now):
            if self.current is None:
                jpeg = self.frames.waiting(
                    self.reloader.experiment and self.reloader.experiment.name, self.reloader.last_error or ""
                )
            else:
                rgb = self.rendered(max_age=1).copy()  # the overlay is drawn in place: not on the shared frame
                extra = "PAUSED" if self.paused else ""
                exp = self.current.experiment.name if self.current.experiment else ""
                jpeg = self.frames.frame(rgb, exp, self.current.epoch, self.ep_return, extra)
            if publishing:
                self.publisher.publish_frame(jpeg)
            for listener in self.frame_listeners:
                listener(jpeg)
            self.frames_published += 1
            self.frame_times.append(now)
        if publishing and now >= self._next_status:
            self._next_status = now + (STATUS_PERIOD_S if rendering else IDLE_STATUS_PERIOD_S)
            self.publisher.publish_status(self.status())

    def rendered(self, max_age: int = 0):
        """World 0 as the stream shows it (render args of the stream), rendered at most once per control
        step and shared by the stream and the clip recorder; do not draw on it. `max_age`: a frame up to
        that many steps old will do (the stream's 25 fps and a clip's every-other-step then need one
        render, not two)."""
        if self._rendered is None or self.steps - self._rendered[0] > max_age:
            self._rendered = (self.steps, self.env.render(**self.render_args))
        return self._rendered[1]

    def pace(self) -> None:
        """Real time: one control step per env.dt, so viewers see the motion at its true speed."""
        if not self.realtime or self.current is None or self.paused:
            return
        now = time.monotonic()
        if self._next_step is None or now - self._next_step > 0.25:  # far behind: do not sprint to catch up
            self._next_step = now
        self._next_step += float(self.env.dt)
        delay = self._next_step - now
        if delay > 0:
            time.sleep(delay)

    def summary(self) -> dict:
        cur, t = self.current, self.totals
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
        self.recorder.close()
        if self.view3d is not None:
            self.view3d.close()
