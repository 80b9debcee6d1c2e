"""The one place policycast reaches into the private internals of MuJoCo's web viewer.

Written for MuJoCo 4.0.1 (`mujoco.studio.web_viewer.WebViewer`, package mujoco-studio 4.0.1; the lock pins
it). Everything else in the 3D view uses the viewer's public API (ViewerConfig, launch_thread,
run_viewer_loop, plugins, messages, `WebViewer.port`, `sync_idle`). What this module touches, and why:

- `WebViewer._host`: the viewer binds "::" (every interface) and has no option to bind elsewhere; we bind
  127.0.0.1 unless the user opts in (its own TODO says loopback should be the default).
- `WebViewer._web_server.viewer_count` (public on the server; the server is a private attribute): how many
  pages read the state stream, i.e. whether anyone is watching (render on demand).
- `WebViewer._web_server.drop_queue`: set to None, so models dropped onto a page are discarded at once
  rather than queued, written to a temp dir and offered to the sim (which would refuse them anyway).
- `web_viewer._print_url_banner`: the viewer prints a box with its own URLs (localhost, the machine's
  name) on stdout; the tester logs the one to open (its relay's, in the stack), so the box is dropped.
- `WebViewer._on_post_model` / `_update_model`: the same, without its line on stdout at every model (the
  first included); the tester logs a task switch itself.

A MuJoCo release that changes these raises here, at start: the tester logs one line and runs on without
its 3D view (view3d.py), naming the installed version and the one this was written for.
"""

from __future__ import annotations

import time

from mujoco.studio import messages, web_viewer

WRITTEN_FOR = "4.0.1"
web_viewer._print_url_banner = lambda host, port: None
IDLE_POLL_S = 0.1  # with no page open the viewer loop runs at 10 Hz instead of its 60


class Viewer(web_viewer.WebViewer):
    """MuJoCo's WebViewer bound on `host`, dropping dropped files, at `fps` frames while a page is open."""

    def __init__(self, config, endpoint, plugins, host: str, fps: float = 30):
        self._bind_host, self._period, self._last_frame = host, 1.0 / fps, 0.0
        try:
            super().__init__(config, endpoint, plugins=plugins)
            self._web_server.drop_queue = None  # the server then discards what a page drops
        except (AttributeError, TypeError) as e:  # the internals above moved in this MuJoCo
            raise RuntimeError(f"{e} (policycast's web-viewer adapter was written for MuJoCo {WRITTEN_FOR})") from e

    # WebViewer assigns self._host = '::' before it binds: this property keeps ours.
    @property
    def _host(self):
        return self._bind_host

    @_host.setter
    def _host(self, _ignored):
        pass

    @messages.handler(priority=messages.Priority.INTERNAL)
    def _on_post_model(self, event: messages.PostModelEvent) -> None:
        self._update_model()  # open pages see the new model's identity in the state and reload it

    @property
    def viewers(self) -> int:
        """Pages reading the state stream now (the controller and spectators)."""
        server = self._web_server
        return server.viewer_count if server is not None else 0

    def prepare_next_frame(self) -> bool:
        # Each frame sends the pages a state payload: fewer frames, less CPU here and fewer bytes to the
        # pages. Nobody looking: a frame every 0.1 s is enough to notice a page arrive.
        wait = self._last_frame + (self._period if self.viewers else IDLE_POLL_S) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_frame = time.monotonic()
        return super().prepare_next_frame()
