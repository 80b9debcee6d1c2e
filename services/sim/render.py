"""Offscreen RGB frames of one world or a grid of worlds, with a clear error when GL is missing.

Renderers are created lazily (one per tile size), with shadows and reflections off: that takes a
640x480 frame from ~50 ms to ~12 ms on Mesa's software renderer (machine-facts.md).
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np

log = logging.getLogger("sim")

# What each MUJOCO_GL backend needs on Debian, for the error message.
_GL_LIBS = {
    "egl": "libegl1 libgl1-mesa-dri libegl-mesa0 libopengl0",
    "osmesa": "libosmesa6",
    "glfw": "a display (set MUJOCO_GL=egl for headless rendering)",
}


class RenderError(RuntimeError):
    """Offscreen rendering is unavailable; str() says which library is missing."""


def choose_gl() -> str:
    """Set MUJOCO_GL before mujoco is imported: the user's choice, else egl, else osmesa if only it exists."""
    if "MUJOCO_GL" not in os.environ:
        from ctypes.util import find_library

        egl_ok = find_library("EGL") and find_library("OpenGL")
        os.environ["MUJOCO_GL"] = "osmesa" if not egl_ok and find_library("OSMesa") else "egl"
    return os.environ["MUJOCO_GL"]


def import_mujoco():
    """`import mujoco`, turning a GL library failure (it loads its GL backend at import) into one line."""
    try:
        import mujoco
    except (ImportError, OSError, RuntimeError, AttributeError) as e:
        raise gl_error(e) from e
    return mujoco


def gl_error(exc: BaseException) -> RenderError:
    backend = os.environ.get("MUJOCO_GL", "glfw").lower()
    need = _GL_LIBS.get(backend, "an OpenGL library")
    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RenderError(
        f"offscreen rendering unavailable (MUJOCO_GL={backend}): needs {need} "
        f"(try MUJOCO_GL=osmesa with libosmesa6); cause: {cause}"
    )


class FrameRenderer:
    """Renders MjData snapshots; owns one mujoco.Renderer per (height, width)."""

    def __init__(self, model):
        self.model = model
        self._renderers: dict[tuple[int, int], object] = {}

    def _renderer(self, height: int, width: int):
        key = (height, width)
        if key not in self._renderers:
            mujoco = import_mujoco()
            try:
                r = mujoco.Renderer(self.model, height=height, width=width)
            except ValueError:
                raise  # size larger than the offscreen buffer: a caller error, keep MuJoCo's message
            except Exception as e:  # GL missing: FatalError, ImportError, AttributeError, OSError
                raise gl_error(e) from e
            flags = r.scene.flags
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            self._renderers[key] = r
        return self._renderers[key]

    def frame(self, datas: list, width: int, height: int, camera: str) -> np.ndarray:
        """One data -> its frame; several -> a near-square grid of equal tiles (black padding)."""
        if len(datas) == 1:
            return self._render(datas[0], width, height, camera)
        cols = math.ceil(math.sqrt(len(datas)))
        rows = math.ceil(len(datas) / cols)
        tw, th = width // cols, height // rows
        out = np.zeros((height, width, 3), np.uint8)
        for k, d in enumerate(datas):
            r, c = divmod(k, cols)
            out[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = self._render(d, tw, th, camera)
        return out

    def _render(self, data, width: int, height: int, camera: str) -> np.ndarray:
        r = self._renderer(height, width)
        r.update_scene(data, camera=camera)
        return r.render()

    def close(self) -> None:
        for r in self._renderers.values():
            try:
                r.close()
            except Exception as e:  # noqa: BLE001 — EGL refuses a context made current on another thread
                log.debug("renderer close: %s", e)
        self._renderers.clear()
