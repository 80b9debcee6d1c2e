"""The tester's 3D view: world 0 in MuJoCo's own web viewer (`mujoco.studio`, gfx="web").

The browser renders the scene itself (WASM + WebGL) from the model it downloads once; this process sends
only world 0's state (~3.4 kB, latest wins) and only while a browser is connected, so a 3D viewer costs
the tester no rendering and no JPEG encoding. The viewer's page wants an origin of its own (a port of its
own: cross-origin isolation for its WASM threads), so the dashboard opens it in a tab of its own.

Safe by default:
- it listens on 127.0.0.1 (MuJoCo's viewer binds every interface by default); `bind_all` is the
  separate, warned opt-in that a container needs (the compose stack keeps it on its own network and the
  streamer relays it on the host's 127.0.0.1 only);
- it is watch-only. Studio's app plugin (pause, reset, keyframes, mouse perturbation, model drops) is
  not loaded, dropped files are discarded, the sim side swallows every event that would change the
  world, and what it shows is `env.world(0)`, a copy refreshed every step: nothing a browser sends
  reaches the tester's worlds, so no episode is ever perturbed and the evaluation stays honest.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import socket
import time

import mujoco
import numpy as np
import requests
from mujoco.studio import launch_thread, messages, plugin, viewer_protocol
from mujoco.studio.dear_imgui import dear_imgui as imgui

from services.core.http import PortInUseError

from .mujoco_web_viewer import Viewer

log = logging.getLogger("tester.view3d")
LOOPBACK, ALL_INTERFACES = "127.0.0.1", "0.0.0.0"
START_TIMEOUT_S = 30.0


class View3D:
    """Serve world 0 in MuJoCo's web viewer; `publish(tester)` after each step, `show(model, data)` for another
    model (a task switch), `close()` at the end.

    Raises PortInUseError (one line) when `port` is taken, and anything else when the viewer cannot start
    (the tester turns that into "3D view unavailable"). One per process, ever: the viewer's UI context is
    process-wide, and a second viewer in the same process never gets a page connected. A tester is a
    process of its own. Returns once the viewer's server answers, so its URL opens as soon as it is shown.
    """

    started = False

    def __init__(self, model, data, port: int = 0, bind_all: bool = False, title: str = "policycast", fps: float = 30):
        if View3D.started:
            raise RuntimeError("MuJoCo's web viewer can run once per process: this one already started one")
        View3D.started = True
        self.host = ALL_INTERFACES if bind_all else LOOPBACK
        self.fps = fps
        self.public_url: str | None = None  # set by the streamer when it relays this view (the stack)
        self.overlay = Overlay()
        self.handle = None
        for attempt in range(3):  # port 0: pick a free one; another process may take it before we bind
            wanted = port or _free_port(self.host)
            ready: concurrent.futures.Future = concurrent.futures.Future()
            config = viewer_protocol.ViewerConfig(gfx="web", http_port=wanted, title=title)
            self.handle = launch_thread.launch_thread(self._viewer_target(config, ready), sim_plugins=[WatchOnly()])
            try:
                self.viewer = ready.result(timeout=START_TIMEOUT_S)
                break
            except RuntimeError as e:
                self._close_handle()
                if "already in use" not in str(e):  # mujoco's words for a taken port; anything else is a bug
                    raise
                if port or attempt == 2:
                    raise PortInUseError(98, f"port {wanted} on {self.host} is already in use") from None
                log.debug("3D view: port %d was taken meanwhile (%s); another", wanted, e)
            except BaseException:
                self._close_handle()
                raise
        self.port = self.viewer.port
        try:
            self.handle.sync(model, data)  # the model now: a page opened later downloads it at once
            self._wait_until_served()
        except BaseException:
            self._close_handle()
            raise
        if bind_all:
            log.warning(
                "3D view listens on ALL interfaces (port %d) and has no authentication: anyone who "
                "can reach this host can watch it (test.view3d.bindAll=false keeps it on 127.0.0.1; "
                "the compose stack keeps it on the stack's own network)",
                self.port,
            )
        log.info("3D view of world 0 on %s (open it in a tab of its own)", self.url)

    def _viewer_target(self, config, ready):
        """What the viewer thread runs: our viewer (bound, or the error handed back), then its loop."""

        def target(endpoint) -> None:
            try:
                viewer = Viewer(config, endpoint, plugins=[self.overlay], host=self.host, fps=self.fps)
            except BaseException as e:
                ready.set_exception(e)
                raise
            ready.set_result(viewer)
            viewer_protocol.run_viewer_loop(viewer)

        return target

    def _wait_until_served(self) -> None:
        """MuJoCo binds the socket up front and listens later on its server thread: wait for its page."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if requests.get(f"http://{LOOPBACK}:{self.port}/", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"MuJoCo's web viewer did not serve its page within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        """Where a browser opens it: the streamer's relay (the stack), else this host's port."""
        if self.public_url:
            return self.public_url
        host = socket.gethostname() if self.host == ALL_INTERFACES else self.host
        return f"http://{host}:{self.port}/"

    @property
    def viewers(self) -> int:
        """Pages reading the state stream now."""
        return self.viewer.viewers

    @property
    def watched(self) -> bool:
        """A page reads the state stream now."""
        return self.viewer.viewers > 0

    def publish(self, tester) -> None:
        """Send world 0's state (and the overlay's lines) while a page shows it; nothing otherwise."""
        if not self.watched:
            return
        model, data = tester.env.world(0)
        self.overlay.lines = overlay_lines(tester)
        self.handle.sync(model, data)

    def show(self, model, data) -> None:
        """Another model in place (the tester moved to a run of another task): open pages reload it."""
        self.handle.sync(model, data)

    def close(self) -> None:
        self._close_handle()

    def _close_handle(self) -> None:
        if self.handle is None:
            return
        try:
            self.handle.close()
        except Exception as e:  # the viewer thread's own failure is re-raised here: closing anyway
            log.debug("3D view closed after %s: %s", type(e).__name__, e)


def overlay_lines(tester) -> tuple[str, ...]:
    """What the 3D view shows over the scene: the same facts as the MJPEG overlay, plus reloads."""
    cur = tester.current
    if cur is None:
        return (tester.task, "waiting for the first checkpoint")
    exp = cur.experiment.name if cur.experiment else ""
    lines = [
        f"{tester.task}  {exp}",
        f"epoch {cur.epoch if cur.epoch is not None else '?'}   return {tester.ep_return:8.2f}",
        f"episodes {tester.episodes}   reloads {tester.reloader.reloads}",
    ]
    if tester.paused:
        lines.append("PAUSED")
    if time.monotonic() < tester.broadcast.frames.flash_until:
        lines.append("RELOADED")
    return tuple(lines)


def fixed_camera_view(model, data, name: str = "fixed") -> dict | None:
    """The free-camera pose (lookat, distance, azimuth, elevation) that sees what camera `name` sees.

    The web viewer's camera is free (the user turns it); starting it where the MJPEG stream looks makes
    the two views agree. None when the model has no such camera.
    """
    cid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
    if cid < 0:
        return None
    pos = data.cam_xpos[cid].copy()
    forward = -data.cam_xmat[cid].reshape(3, 3)[:, 2]  # MuJoCo cameras look along their -z axis
    distance = max(float(np.dot(model.stat.center - pos, forward)), 0.1)
    return {
        "lookat": pos + forward * distance,
        "distance": distance,
        "azimuth": math.degrees(math.atan2(forward[1], forward[0])),
        "elevation": math.degrees(math.asin(max(-1.0, min(1.0, float(forward[2]))))),
    }


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# Everything a browser could send that would change the world, the model or the stepping.
MUTATING = (
    messages.StateEvent,
    messages.PerturbSnapshot,
    messages.ResetEvent,
    messages.KeyframeEvent,
    messages.LoadModelEvent,
    messages.MjOptionSnapshot,
    messages.ThreadPoolEvent,
    messages.SingleStepEvent,
    messages.RequestPauseEvent,
    messages.StepControlSnapshot,
)


class WatchOnly(plugin.SimPlugin):
    """Sim side: swallow every MUTATING message before the handle's own handlers apply it."""

    @messages.handler(priority=messages.Priority.CRITICAL)
    def _drop(self, message: messages.Message) -> bool:
        return isinstance(message, MUTATING)


class Overlay(plugin.ViewerPlugin):
    """Viewer side: the tester's lines in a small window over the scene; the camera starts at `fixed`."""

    lines: tuple[str, ...] = ()  # replaced whole by the tester's thread (one atomic assignment)
    FLAGS = (
        int(imgui.WindowFlags.NoDecoration)
        | int(imgui.WindowFlags.AlwaysAutoResize)
        | int(imgui.WindowFlags.NoInputs)
        | int(imgui.WindowFlags.NoSavedSettings)
    )

    @messages.handler
    def _on_model(self, event: messages.PostModelEvent) -> None:
        view = fixed_camera_view(event.model, event.data)
        if view is not None:
            cam = self.viewer.camera
            cam.lookat[:], cam.distance = view["lookat"], view["distance"]
            cam.azimuth, cam.elevation = view["azimuth"], view["elevation"]

    @messages.handler
    def _on_gui(self, event: messages.BuildGuiEvent) -> None:
        lines = self.lines
        if not lines:
            return
        imgui.SetNextWindowPos(imgui.Vec2(10, 10))
        imgui.SetNextWindowBgAlpha(0.55)
        if imgui.Begin("policycast", None, self.FLAGS)[0]:
            for line in lines:
                if line == "RELOADED":
                    imgui.TextColored(imgui.Vec4(1.0, 0.82, 0.0, 1.0), line)
                else:
                    imgui.Text(line)
        imgui.End()
