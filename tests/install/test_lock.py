"""Installs that keep working: the lock (uv.lock, exported to constraints.txt by `make lock`) agrees with
pyproject.toml's ranges, and every install path takes exactly the lock's versions: this environment
(`make setup`), the GPU machine's bundle (bench/gpu_wheels.py + bench/gpu_check.sh) and, in
tests/stack/test_images_locked.py, the images."""

import copy
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from bench.gpu_wheels import bundle_list, locked_for_gpu_machine
from tests.processes import run

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")


def locked(lock: dict) -> dict[str, set[str]]:
    """{name: versions} in a uv.lock (one package may be locked at two versions for two Pythons)."""
    out: dict[str, set[str]] = {}
    for p in lock["package"]:
        if "version" in p:
            out.setdefault(canonicalize_name(p["name"]), set()).add(p["version"])
    return out


def range_disagreements(project: dict, lock: dict) -> list[str]:
    """One line per dependency of pyproject.toml (extras included) whose locked version is outside its range."""
    pins = locked(lock)
    reqs = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    out = []
    for req in map(Requirement, reqs):
        versions = pins.get(canonicalize_name(req.name))
        if not versions:
            out.append(f"{req}: not in the lock")
        for v in sorted(versions or ()):
            if not req.specifier.contains(v, prereleases=True):
                out.append(f"{req}: locked at {v}")
    return out


def read_project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def read_lock():
    return tomllib.loads((ROOT / "uv.lock").read_text())


def test_the_lock_satisfies_every_range_in_pyproject():
    assert range_disagreements(read_project(), read_lock()) == []


def test_a_lock_outside_a_range_is_caught():
    """The check above can fail: a lock whose MuJoCo left the range, or that lost a dependency."""
    lock = read_lock()
    moved, lost = copy.deepcopy(lock), copy.deepcopy(lock)
    for p in moved["package"]:
        if p["name"] == "mujoco":
            p["version"] = "4.1.0"
    lost["package"] = [p for p in lost["package"] if p["name"] != "cheroot"]
    assert range_disagreements(read_project(), moved) == ["mujoco<4.1,>=4.0.1: locked at 4.1.0"]
    assert range_disagreements(read_project(), lost) == ["cheroot>=10: not in the lock"]


def test_the_lock_is_up_to_date_with_pyproject():
    """`uv lock --check`: pyproject.toml changed without `make lock` fails here (uv asks PyPI for metadata)."""
    done = run([UV, "lock", "--check"], timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_constraints_txt_is_the_lock_exported():
    cmd = [UV, "export", "--frozen", "--no-hashes", "--all-extras", "--no-emit-project", "--format", "requirements-txt"]
    done = run(cmd, timeout=120)
    assert done.returncode == 0, done.stderr
    pins = lambda text: [line for line in text.splitlines() if line and not line.startswith("#")]  # noqa: E731
    assert pins(done.stdout) == pins((ROOT / "constraints.txt").read_text()), "run `make lock`"


def lock_for_this_python() -> dict[str, str]:
    env = default_environment()
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith(("#", " ", "-")):
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env):
                out[canonicalize_name(req.name)] = next(iter(req.specifier)).version
    return out


def test_this_environment_holds_exactly_the_lock():
    """What `make setup` installed (the environment running the tests): every package at the lock's version
    (a local build of the same release counts: torch 2.13.0+cpu is the lock's 2.13.0); pip at the Makefile's."""
    pins = lock_for_this_python()
    pip_version = re.search(r"^PIP_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)[1]
    wrong = []
    for dist in metadata.distributions():
        name, version = canonicalize_name(dist.metadata["Name"]), Version(dist.version)
        if name == "policycast":
            continue
        want = pip_version if name == "pip" else pins.get(name)
        if want is None or version.public != Version(want).public:
            wrong.append(f"{name} {version} (the lock: {want or 'absent'})")
    assert wrong == []


def test_the_gpu_bundle_takes_the_locks_versions():
    pins = locked_for_gpu_machine()
    bundled = dict(line.split("==") for line in bundle_list())
    assert {"mujoco", "mujoco-warp", "warp-lang", "rl-games", "flask"} <= set(bundled)
    assert all(pins[canonicalize_name(n)] == v for n, v in bundled.items())


def fake_wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal valid pure-Python wheel of `name` at `version` (what a stale bundle could carry)."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}_probe.py": "",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as z:
        for f, text in files.items():
            z.writestr(f, text)
        z.writestr(f"{info}/RECORD", "".join(f"{f},,\n" for f in [*files, f"{info}/RECORD"]))
    return path


@pytest.mark.parametrize("at_the_lock", [True, False], ids=["locked-version", "other-version"])
def test_gpu_check_install_refuses_a_wheel_the_lock_does_not_name(tmp_path, at_the_lock):
    """bench/gpu_check.sh install, on a bundle carrying `sh` at the lock's version, or at another one."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    locked_sh = lock_for_this_python()["sh"]
    version = locked_sh if at_the_lock else "2.0.1"
    bundle = tmp_path / "bundle"
    (bundle / "wheels").mkdir(parents=True)
    fake_wheel(bundle / "wheels", "sh", version)
    subprocess.run(["tar", "-C", bundle, "-cf", bundle / "bundle.part-aa", "wheels"], check=True)
    (bundle / "wheels" / f"sh-{version}-py3-none-any.whl").unlink()  # the parts are what travels
    done = run(
        ["bash", "bench/gpu_check.sh", "install", bundle],
        env={"PATH": "/usr/bin:/bin", "PY": str(venv / "bin" / "python")},
        timeout=300,
    )
    installed = subprocess.run(
        [venv / "bin" / "python", "-c", "import importlib.metadata as m, json; print(json.dumps(m.version('sh')))"],
        capture_output=True,
        text=True,
    )
    if at_the_lock:
        assert json.loads(installed.stdout) == locked_sh, done.stderr[-2000:]
    else:
        assert installed.returncode != 0 and done.returncode != 0  # nothing installed, and it said so
        assert "sh==2.0.1" in done.stderr or "conflict" in done.stderr.lower(), done.stderr[-2000:]
