"""`bench/gpu_check.sh strip` on a machine that lacks what the stack needs (rsync for sync, offscreen GL for
the testers) stops at once with one line naming what to carry, before compiling kernels or starting
anything: a lent GPU machine's minutes are few. (The whole mode ran here as a dry run, GPU=0 TASK=Reach:
README "GPU".)"""

import sys
from pathlib import Path

import pytest

from tests.processes import run


def path_without(tmp_path: Path, tool: str) -> str:
    """A PATH holding every program of /usr/bin and /bin but `tool`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in (Path("/usr/bin"), Path("/bin")):
        for program in folder.iterdir():
            if program.name != tool and not (bin_dir / program.name).exists():
                (bin_dir / program.name).symlink_to(program)
    return str(bin_dir)


@pytest.mark.parametrize("missing", ["rsync", "gl"])
def test_strip_stops_at_once_naming_what_to_carry(tmp_path, missing):
    # DEBS: an empty folder, so that no .deb a checkout may hold in .gl/ is unpacked into this machine's /
    (tmp_path / "debs").mkdir()
    env = {"PY": sys.executable, "RUNS": str(tmp_path / "runs"), "HOME": str(tmp_path), "DEBS": str(tmp_path / "debs")}
    if missing == "rsync":
        env["PATH"] = path_without(tmp_path, "rsync")
    else:
        env["PATH"], env["STRIP_GL"] = "/usr/bin:/bin", "glfw"  # GLFW: no display here, so no offscreen GL
    done = run(["bash", "bench/gpu_check.sh", "strip", tmp_path / "out", "1"], timeout=120, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    said = (tmp_path / "out" / "strip.txt").read_text()
    if missing == "rsync":
        assert "rsync is not installed here: carry its .deb in .gl/" in said, said
    else:
        assert "offscreen rendering (MUJOCO_GL=glfw) fails" in said, said
        assert "carry the GL loaders' .debs in .gl/" in said, said
    assert "Warp kernels" not in said and not (tmp_path / "runs" / "strip" / "stack.txt").exists()
