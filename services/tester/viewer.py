"""`config=test_viewer`: the same hot-reloading loop, shown in MuJoCo's passive viewer window (world 0).

Keys: Space pause/resume, Backspace reset the episode, ] next camera (free, then the model's cameras).
Needs a display; under Xvfb: `xvfb-run -a python train.py config=test_viewer checkpoint=latest`.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("tester.viewer")
KEY_SPACE, KEY_BACKSPACE, KEY_RIGHT_BRACKET = 32, 259, 93


def watch(tester, games: int, stop: threading.Event) -> None:
    import mujoco
    import mujoco.viewer

    model, data = tester.env.world(0)
    keys: list[int] = []  # the callback runs on the viewer's thread: hand keys over to the loop

    with mujoco.viewer.launch_passive(
        model, data, key_callback=keys.append, show_left_ui=False, show_right_ui=False
    ) as viewer:
        log.info("viewer open (Space pause, Backspace reset, ] camera)")

        def tick() -> bool:  # the tester's own loop, plus keys and a redraw each step
            while keys:
                _on_key(keys.pop(0), tester, viewer, model, mujoco)
            with viewer.lock():
                viewer.sync()
            return viewer.is_running()

        tester.play(games, stop, tick=tick)


def _on_key(key: int, tester, viewer, model, mujoco) -> None:
    if key == KEY_SPACE:
        (tester.resume if tester.paused else tester.pause)()
        log.info("paused" if tester.paused else "resumed")
    elif key == KEY_BACKSPACE:
        tester.obs = tester.env.reset()
        tester.ep_return = 0.0
        log.info("episode reset")
    elif key == KEY_RIGHT_BRACKET:
        cam = viewer.cam
        if cam.type == mujoco.mjtCamera.mjCAMERA_FREE and model.ncam > 0:
            cam.type, cam.fixedcamid = mujoco.mjtCamera.mjCAMERA_FIXED, 0
        elif cam.type == mujoco.mjtCamera.mjCAMERA_FIXED and cam.fixedcamid + 1 < model.ncam:
            cam.fixedcamid += 1
        else:
            cam.type = mujoco.mjtCamera.mjCAMERA_FREE
