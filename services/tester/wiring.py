"""How a tester is put together: `build(cfg)` resolves `checkpoint=` once and wires the parts.

The order is the parts' dependencies: the run and task at start (taskkit.resolve_start) -> the test
experiment and the task's worlds and network (TaskKit) -> the reloader -> the 3D view and the clip
recorder (optional features: each costs only itself when it cannot start) -> the publisher and the
control server (listening, so its URL goes into the status) -> what the tester shows (Broadcast) and
counts (Scores) -> the Tester. Last, the servers are pointed at it and the reloader starts looking.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .optional import Feature

log = logging.getLogger("tester")


@dataclass
class Service:
    """A wired tester: the loop object, its control server, reloader (started) and publisher, to close."""

    tester: object
    control: object
    reloader: object
    publisher: object = None

    def close(self) -> None:
        self.reloader.stop()
        self.control.stop()
        if hasattr(self.publisher, "close"):
            self.publisher.close()
        self.tester.close()
        self.tester.env.close()


def build(cfg, hub=None, publisher=None) -> Service:
    """A tester wired as `cfg` asks, its reloader started; ResolveError when `checkpoint=` names nothing.
    Frames and status go to `publisher` when given (anything with publish_status and publish_frame), else
    into `hub` (an in-process streamer's), else to `test.streamerUrl`, else nowhere."""
    import torch

    from services.core.config import stream_token
    from services.core.logs import add_log_file

    from .broadcast import Broadcast
    from .camera import Camera
    from .evaluation import Evaluation
    from .frames import FrameMaker
    from .identity import expand as expand_id
    from .readers import Readers
    from .scores import Scores
    from .taskkit import KitFactory, resolve_start
    from .tester import Playing, Tester

    # A small MLP on a few worlds gains nothing from intra-op threads; they only fight the renderer
    # and the reloader's load for the cores.
    torch.set_num_threads(1)
    start = resolve_start(cfg)
    cfg.task, cfg.train.params = start.task, start.params  # what is played: the test experiment records it
    t, r = cfg.test, cfg.test.render
    test_exp = _test_experiment(Path(t.outDir or cfg.runsDir), cfg)
    if test_exp is not None:
        add_log_file(test_exp / "test.log")
    if cfg.env.backend not in ("mujoco", "auto"):
        log.info("env.backend=%s is for training: the tester's rendered worlds run on mujoco (CPU)", cfg.env.backend)
    kits = KitFactory(t.numEnvs, cfg.device, cfg.train.seed)
    kit = kits.build(start.task, start.params)
    tester_id = expand_id(t.id) if t.id else f"{kit.name}-{os.getpid()}"  # {replica}: identity.py
    reloader = _reloader(cfg, kits, kit, start.experiment)
    view3d = _view3d(t.view3d, kit.env, tester_id)
    camera, readers = Camera(kit.env, r.width, r.height, r.camera, r.tile), Readers()
    frames = FrameMaker(kit.name, r.width, r.height, r.jpegQuality)
    clips = _clips(t.clips, r.fps, test_exp, tester_id, kit, camera, frames, readers)
    token = stream_token(cfg)
    if publisher is None:
        publisher = _publisher(hub, t.streamerUrl, tester_id, token)
    control = _control_server(t.control, token, publisher, tester_id)
    broadcast = Broadcast(camera, frames, r.fps, readers, publisher, view3d, t.control.advertiseUrl or control.url)
    evaluation = Evaluation(t.eval.episodes, t.eval.seed, kit.env.num_envs) if t.eval.episodes else None
    scores = Scores(tester_id, kit.env.num_envs, test_exp, evaluation)
    tester = Tester(tester_id, kit, reloader, broadcast, scores, clips, Playing(t.deterministic, t.realtime))
    control.serve(tester)
    if hasattr(publisher, "serve"):  # an in-process streamer calls the tester's methods itself
        publisher.serve(tester)
    reloader.start()
    return Service(tester, control, reloader, publisher)


def _reloader(cfg, kits, kit, experiment):
    from services.core.checkpoints import LATEST_SPECS

    from .reloader import HotReloader

    spec = cfg.train.checkpoint
    follow = cfg.train.followLatest and spec in LATEST_SPECS
    return HotReloader(
        spec,
        cfg.runsDir,
        kit=kit,
        retask=kits.for_run if follow else None,  # a fixed experiment keeps its task: another's is refused
        interval=cfg.train.reloadInterval,
        follow_latest=cfg.train.followLatest,
        watch_events=cfg.test.watchEvents,
        experiment=experiment,
    )


def _view3d(v, env, tester_id: str) -> Feature:
    """World 0 in MuJoCo's web viewer when `test.view3d.enabled`; a busy port is one line naming the key."""
    from services.core.config import ConfigError
    from services.core.http import PortInUseError

    from . import optional

    def make():
        from .view3d import View3D  # here: an unimportable viewer costs the 3D view only

        try:
            return View3D(*env.world(0), port=v.port, bind_all=v.bindAll, fps=v.fps, title=f"policycast {tester_id}")
        except PortInUseError as e:
            raise ConfigError(f"test.view3d.port={v.port}: {e.strerror}") from None

    return optional.start("3D view", make, "mujoco") if v.enabled else optional.OFF


def _clips(c, fps: float, test_exp, tester_id: str, kit, camera, frames, readers) -> Feature:
    """The clip recorder when `test.clips.enabled`: world 0 as the camera shows it, with the stream's overlay."""
    from . import optional

    def make():
        from .clips import ClipRecorder, ClipSettings  # here: an unimportable encoder costs the clips only

        videos = test_exp / "videos" if test_exp is not None else None
        settings = ClipSettings(c.every, c.keep, c.format, c.tensorboard, fps, videos)
        return ClipRecorder(tester_id, kit.name, kit.env.dt, settings, camera.rendered, frames.annotate, readers)

    return optional.start("clips", make, "av") if c.enabled else optional.OFF


def _publisher(hub, streamer_url: str | None, tester_id: str, token: str | None):
    """Where frames and status go: an in-process streamer's hub, a streamer service, or nowhere (None)."""
    if hub is not None:
        return hub.local_publisher(tester_id)
    if not streamer_url:
        return None
    from .publish import HttpPublisher

    log.info("frames -> %s", streamer_url)
    return HttpPublisher(streamer_url, tester_id, token=token)


def _control_server(c, token: str | None, publisher, tester_id: str):
    """The control API, listening; every call needs a token, on loopback too (other users and web pages
    reach 127.0.0.1): `token`, else one generated here, and the secret the streamer gave the publisher."""
    from .control import ControlServer

    control = ControlServer(
        None, c.bind, c.port, token or secrets.token_urlsafe(18), also=lambda: getattr(publisher, "secret", None)
    )
    if not token:  # printed once, on stdout (never logged), as the streamer prints its own
        print(f"tester {tester_id} control API: {control.url} (control token: {control.token})", flush=True)
    return control


def _test_experiment(out_dir: Path, cfg):
    """<out>/<Task>_test_<stamp>/ (+ latest_test); a read-only one only costs the log and eval files.
    Older test experiments past `runs.keep` move to the archive (services/core/archive.py)."""
    from services.core.archive import tidy
    from services.core.experiments import create_experiment

    try:
        experiment = create_experiment(out_dir, cfg.task.name, "test", cfg)
    except OSError as e:
        log.warning("no test experiment (%s): test.log and eval go nowhere unless the run is writable", e)
        return None
    moved = tidy(out_dir, "test", cfg.runs.keep)
    if moved:
        log.info("archive: moved %d older test experiment(s) out of %s: %s", len(moved), out_dir, ", ".join(moved))
    return experiment
