"""Shared test set-up: headless MuJoCo rendering and a fresh runs/ root per test."""
import os

# MUJOCO_GL is read when mujoco is imported; EGL (Mesa) works without a display.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYTHONUNBUFFERED", "1")

import pytest


@pytest.fixture
def runs_dir(tmp_path):
    """An empty runs/ root, as a user's working directory would have."""
    d = tmp_path / "runs"
    d.mkdir()
    return d
