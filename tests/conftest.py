"""Shared test set-up: headless MuJoCo rendering and a fresh runs/ root per test."""

import os

# MUJOCO_GL is read when mujoco is imported; EGL (Mesa) works without a display.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYTHONUNBUFFERED", "1")

import pytest

from tests.processes import train


@pytest.fixture
def small_disk(tmp_path):
    """mount(size) -> a directory on a tmpfs of that size, unmounted after the test (skips without root)."""
    from tests.disk import mount_tmpfs, unmount

    mounted = []

    def mount(size="16m"):
        mounted.append(mount_tmpfs(tmp_path / f"disk{len(mounted)}", size))
        return mounted[-1]

    yield mount
    for d in mounted:
        unmount(d)


@pytest.fixture
def browser():
    """Headless Chromium (skips when the Debian chromium/chromium-driver packages are missing)."""
    from tests.streamer.browsing import chromium

    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def webgl_browser():
    """Headless Chromium that draws WebGL on the CPU (SwiftShader), for MuJoCo's web viewer; a small
    window, since every pixel is software-rendered."""
    from tests.streamer.browsing import WEBGL, chromium

    driver = chromium(*WEBGL, size="640,480")
    yield driver
    driver.quit()


@pytest.fixture
def runs_dir(tmp_path):
    """An empty runs/ root, as a user's working directory would have."""
    d = tmp_path / "runs"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def reach_run(tmp_path_factory):
    """A real, short rl_games PPO run on Reach (several periodic checkpoints), shared by the session.

    Returns the experiment directory; tests copy from it rather than write into it.
    """
    runs = tmp_path_factory.mktemp("trained") / "runs"
    return train(runs, "Reach", "train.saveFrequency=3", maxIterations=12, numEnvs=16)


@pytest.fixture
def reach_runs(reach_run, tmp_path):
    """A runs/ root of its own with the Reach run's config and newest checkpoint, latest_train on it."""
    import shutil

    from services.core.checkpoints import list_checkpoints
    from services.core.experiments import update_latest_link

    runs = tmp_path / "runs"
    exp = runs / reach_run.name
    (exp / "nn").mkdir(parents=True)
    shutil.copy(reach_run / "config.yaml", exp)
    shutil.copy(list_checkpoints(reach_run)[-1], exp / "nn")
    update_latest_link(runs, exp, "train")
    return runs


@pytest.fixture(scope="session")
def grasp_run(tmp_path_factory):
    """A real, very short rl_games PPO run on BlindGrasping (untrained weights of the task's real network,
    two periodic checkpoints), shared by the session: another task than Reach's for a tester to move to."""
    runs = tmp_path_factory.mktemp("trained_grasp") / "runs"
    return train(runs, "BlindGrasping", "train.saveFrequency=4", maxIterations=8, numEnvs=8)
