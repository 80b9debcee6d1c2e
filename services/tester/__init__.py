"""Tester service: play the policy forever (or N games), hot-reload newer checkpoints, stream frames.

python train.py config=test checkpoint=latest testGamesNum=0 reloadInterval=30
python -m services.tester checkpoint=latest          # the same, as a service
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("tester")


def run(cfg, hub=None) -> int:
    """Run the tester the config asks for; returns the process exit code."""
    from services.core.checkpoints import LATEST_SPECS, ResolveError, resolve

    spec = cfg.train.checkpoint
    try:
        resolve(spec, cfg.runsDir)  # a typo fails now; `latest*` may legitimately not exist yet
    except ResolveError as e:
        if spec not in LATEST_SPECS:
            print(f"error: {e}", file=sys.stderr)
            return 2
    from services.core.config import ConfigError
    from services.core.http import PortInUseError
    from services.core.signals import stop_on_signals

    try:
        service = build(cfg, hub)
    except PortInUseError as e:
        raise ConfigError(f"test.control.port={cfg.test.control.port}: {e.strerror}") from None
    games = cfg.train.testGamesNum
    log.info(
        "tester %s: checkpoint=%s, %s, each checkpoint kept >= %s s",
        service.tester.id,
        spec,
        f"{games} games" if games else "until stopped",
        cfg.train.reloadInterval,
    )
    # SIGINT/SIGTERM end the loop cleanly (exit 0): containers are stopped with SIGTERM.
    try:
        with stop_on_signals() as stop:
            if cfg.viewer.enabled:
                from .viewer import watch

                watch(service.tester, games, stop)
            else:
                service.tester.play(games, stop)
    finally:
        service.close()
    _print_summary(service.tester.summary())
    return 0


def task_of_the_run(cfg) -> None:
    """Checkpoints belong to the task config they were trained with (task, hand, network shape): when the
    checkpoint's run is known at start, play it in that config, whatever task= says."""
    from services.core.checkpoints import ResolveError, resolve
    from services.core.experiments import trained_task

    try:
        experiment = resolve(cfg.train.checkpoint, cfg.runsDir).experiment
    except ResolveError:
        return  # `latest` before any run exists: the configured task
    trained = trained_task(experiment)
    if trained is None:
        return
    task, params = trained
    if (task.get("name"), task.get("hand")) != (cfg.task.get("name"), cfg.task.get("hand")):
        log.info(
            "playing task=%s%s: the task %s was trained on",
            task.name,
            f" (task.hand={task.hand})" if task.get("hand") else "",
            experiment.name,
        )
    cfg.task, cfg.train.params = task, params


@dataclass
class Service:
    """A wired tester: the loop object, its control server and reloader (started), and what to close."""

    tester: object
    control: object
    reloader: object

    def close(self) -> None:
        self.reloader.stop()
        self.control.stop()
        if hasattr(self.tester.publisher, "close"):
            self.tester.publisher.close()
        self.tester.close()
        self.tester.env.close()


def build(cfg, hub=None) -> Service:
    """Env, policy builder, reloader, frames, control API and publisher, wired as `cfg` asks."""
    import torch

    from services.core.checkpoints import LATEST_SPECS
    from services.core.config import stream_token
    from services.core.experiments import create_experiment
    from services.core.logs import add_log_file

    from . import optional
    from .control import ControlServer
    from .evaluation import Evaluation
    from .frames import FrameMaker
    from .identity import expand as expand_id
    from .publish import HttpPublisher
    from .reloader import HotReloader
    from .taskkit import KitFactory
    from .tester import Tester

    # A small MLP on a few worlds gains nothing from intra-op threads; they only fight the renderer
    # and the reloader's load for the cores.
    torch.set_num_threads(1)
    task_of_the_run(cfg)
    runs_dir, t = Path(cfg.runsDir), cfg.test
    test_exp = _test_experiment(Path(t.outDir or runs_dir), cfg, create_experiment)
    if test_exp is not None:
        add_log_file(test_exp / "test.log")
    if cfg.env.backend not in ("mujoco", "auto"):
        log.info("env.backend=%s is for training: the tester's rendered worlds run on mujoco (CPU)", cfg.env.backend)
    kits = KitFactory(t.numEnvs, cfg.device, cfg.train.seed)
    kit = kits.build(cfg.task, cfg.train.params)
    spec = cfg.train.checkpoint
    follow = cfg.train.followLatest and spec in LATEST_SPECS
    reloader = HotReloader(
        spec,
        runs_dir,
        kit=kit,
        retask=kits.for_run if follow else None,  # a fixed experiment keeps its task: another's is refused
        interval=cfg.train.reloadInterval,
        follow_latest=cfg.train.followLatest,
        watch_events=t.watchEvents,
    )
    tester_id = expand_id(t.id) if t.id else f"{cfg.task.name}-{os.getpid()}"  # {replica}: identity.py
    r = t.render
    tester = Tester(
        tester_id,
        kit,
        reloader,
        frames=FrameMaker(kit.name, r.width, r.height, r.jpegQuality),
        fps=r.fps,
        render={"width": r.width, "height": r.height, "camera": r.camera, "tile": r.tile},
        deterministic=t.deterministic,
        realtime=t.realtime,
        test_experiment=test_exp,
        evaluation=Evaluation(t.eval.episodes, t.eval.seed, kit.env.num_envs) if t.eval.episodes else None,
    )
    if t.view3d.enabled:
        tester.view3d, tester.view3d_error = optional.start(
            "3D view", lambda: _view3d(kit.env, t.view3d, tester_id), "mujoco"
        )
    if t.clips.enabled:
        tester.clip_recorder, tester.clips_error = optional.start(
            "clips", lambda: _clip_recorder(tester, t.clips, r.fps, test_exp), "av"
        )
    # Every control call needs a token, on loopback too (other users and web pages reach 127.0.0.1); the
    # streamer's secret for us is accepted as well (publish.py)
    token = stream_token(cfg)
    control = ControlServer(
        tester,
        t.control.bind,
        t.control.port,
        token or secrets.token_urlsafe(18),
        also=lambda: getattr(tester.publisher, "secret", None),
    )
    tester.control_url = t.control.advertiseUrl or control.url
    if not token:  # printed once, on stdout (never logged), as the streamer prints its own
        print(f"tester {tester_id} control API: {control.url} (control token: {control.token})", flush=True)
    if hub is not None:
        tester.publisher = hub.local_publisher(tester_id, tester)
    elif t.streamerUrl:
        tester.publisher = HttpPublisher(t.streamerUrl, tester_id, token=token)
        log.info("frames -> %s", t.streamerUrl)
    if tester.publisher is not None:  # its answers say how many read our frames (render on demand)
        tester.publisher.on_reply = tester.streamer_said
    reloader.start()
    return Service(tester, control, reloader)


def _view3d(env, v, tester_id: str):
    """World 0 in MuJoCo's web viewer; a busy port is one line naming the key."""
    from services.core.config import ConfigError
    from services.core.http import PortInUseError

    from .view3d import View3D  # here: an unimportable viewer costs the 3D view only

    try:
        return View3D(*env.world(0), port=v.port, bind_all=v.bindAll, fps=v.fps, title=f"policycast {tester_id}")
    except PortInUseError as e:
        raise ConfigError(f"test.view3d.port={v.port}: {e.strerror}") from None


def _clip_recorder(tester, c, fps: float, test_exp):
    from .clips import ClipRecorder  # here: an unimportable encoder costs the clips only

    return ClipRecorder(
        tester.id,
        tester.task,
        tester.rendered,
        tester.frames.annotate,
        tester.env.dt,
        fps,
        every=c.every,
        keep=c.keep,
        fmt=c.format,
        tensorboard=c.tensorboard,
        videos_dir=test_exp / "videos" if test_exp is not None else None,
        readers=tester.readers,
    )


def _test_experiment(out_dir: Path, cfg, create_experiment):
    """<out>/<Task>_test_<stamp>/ (+ latest_test); a read-only one only costs the log and eval files.
    Older test experiments past `runs.keep` move to the archive (services/core/archive.py)."""
    from services.core.archive import tidy

    try:
        experiment = create_experiment(out_dir, cfg.task.name, "test", cfg)
    except OSError as e:
        log.warning("no test experiment (%s): test.log and eval go nowhere unless the run is writable", e)
        return None
    moved = tidy(out_dir, "test", cfg.runs.keep)
    if moved:
        log.info("archive: moved %d older test experiment(s) out of %s: %s", len(moved), out_dir, ", ".join(moved))
    return experiment


def _print_summary(s: dict) -> None:
    def fmt(v, spec):
        return "n/a" if v is None else format(v, spec)

    print(
        f"test summary: episodes {s['episodes']}, mean return {fmt(s['mean_return'], '.3f')}, "
        f"success rate {fmt(s['success_rate'], '.3f')}, checkpoint {s['checkpoint']} (epoch {s['epoch']}), "
        f"reloads {s['reloads']}",
        flush=True,
    )
