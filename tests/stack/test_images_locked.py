"""The images install exactly the lock: every Python package in policycast-app at constraints.txt's version."""

import json

import pytest
from packaging.utils import canonicalize_name

from services.stack import engine
from tests.install.test_lock import lock_for_this_python

from .e2e import docker, require_engine

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1500)]

LIST = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)


def test_the_images_hold_exactly_the_lock():
    require_engine()
    engine.build()  # up to date when the end-to-end tests built them: seconds
    out = docker("run", "--rm", "--entrypoint", "python", "policycast-app:local", "-c", LIST)
    assert out.returncode == 0, out.stderr
    installed = {canonicalize_name(n): v for n, v in json.loads(out.stdout).items()}
    pins = lock_for_this_python()  # the images' Python is this one's (3.11 on Debian 12)
    assert {"torch", "mujoco", "rl-games", "flask"} <= set(installed)
    # pip, the installer, is the base image's own; everything installed with it is the lock's
    wrong = [
        f"{name} {version} (the lock: {pins.get(name)})"
        for name, version in installed.items()
        if name != "pip" and version.split("+")[0] != pins.get(name)
    ]
    assert wrong == []
