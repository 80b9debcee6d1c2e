"""The run-level keys: every one with its type, default, range and one-line doc.

This schema is the base every preset in configs/ starts from (`config.py` gives it to Hydra as the
first entry of configs/config.yaml's defaults), the checks each value passes once at start, and the
key list of `python train.py --help`. The task (configs/task/<Name>.yaml) and the rl_games parameters
(configs/train/<Name>PPO.yaml `params`) are free-form here: the task checks its own keys
(services/sim/tasks/base.Cfg, with the same refusals), rl_games its own.

Field names are the config's keys as users type them (camelCase, as in the seed's CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .schema import option, section

PORT = {"lo": 0, "hi": 65535}  # 0 = any free port (the OS picks)
NOT_EMPTY = {"pattern": r".+", "expects": "a directory path"}


@dataclass
class Env:
    """The batched simulation (training)."""

    numEnvs: int = option(64, "worlds simulated at once", lo=1)
    backend: Literal["auto", "mujoco", "warp"] = option(
        "auto", "physics: mujoco (CPU), warp (MuJoCo Warp, GPU), auto = warp on cuda when installed"
    )
    # Seconds of compiling at start for fewer kernel launches a step: pays on a GPU, barely on a CPU.
    compile: bool | None = option(
        None, "fuse the task math with torch.compile (true/false)", null="on a CUDA device only"
    )


@dataclass
class Keep:
    """Checkpoint retention in the run's nn/, after every save (README "Runs that go on for days")."""

    enabled: bool = option(True, "false: every checkpoint stays")
    newest: int = option(5, "the newest periodic checkpoints always kept (and the best, nn/<Task>.pth)", lo=1)
    # A lagging evaluator (a tester on a slow sync) still finds what it was told about.
    recentMinutes: float = option(10.0, "every checkpoint saved in the last N minutes is kept", lo=0)
    history: int = option(100, "older checkpoints kept, the run's first among them, thinning as they age", lo=0)
    budgetGB: float = option(2.0, "most the run's checkpoints take together; past it the history thins", lo=0)
    # Below it: the 2 newest only, no recent window, a quarter of the history; progress.json says so.
    lowDiskPercent: float = option(10.0, "free disk (%) below which retention keeps far less", lo=0, hi=100)


@dataclass
class Train:
    """Training, and what a tester plays (checkpoint=, reloadInterval=)."""

    seed: int = option(42, "seed of torch, numpy, random and the worlds' reset noise", lo=0)
    # The base leaves it null; each configs/train/<Task>PPO.yaml sets the budget its task needs.
    maxIterations: int | None = option(
        None, "PPO epochs, per task (Reach 300, BlindGrasping until stopped)", lo=1, null="train until stopped"
    )
    checkpoint: str | None = option(
        None, "latest | latest_train | latest_test | experiment dir | .pth | part of a name; train: resume it"
    )
    saveFrequency: int = option(10, "epochs between periodic checkpoints", lo=0)
    testGamesNum: int = option(0, "test: episodes to play, 0 = forever", lo=0)
    # Any number >= 0 at start (tests reload fast on purpose); a running tester takes 0 or >= 0.5 s.
    reloadInterval: float = option(
        30.0, "test: least seconds a checkpoint is kept before a newer one replaces it, 0 = keep the first", lo=0
    )
    followLatest: bool = option(True, "test with checkpoint=latest: switch runs when latest_train moves")
    printInterval: int = option(5, "epochs between progress lines", lo=1)
    keep: Keep = section(Keep)
    params: dict = option({}, "rl_games PPO parameters: configs/train/<Task>PPO.yaml")


@dataclass
class Runs:
    """The runs directory as a whole."""

    # An experiment is never moved while a latest_* link points at it, it was written to in the last hour,
    # or it is marked kept (make keep).
    keep: int | None = option(
        10,
        "newest experiments of each kind kept in runsDir; older ones move whole to <runsDir>_all/",
        lo=1,
        null="never move experiments to the archive",
    )


@dataclass
class Eval:
    """Seeded evaluation: the same episodes for every checkpoint (bench/learning_curve.py)."""

    # On: each swapped-in checkpoint resets every world from `seed` and counts only these episodes; a newer
    # checkpoint waits until they are done (ones landing meanwhile may be skipped).
    episodes: int = option(0, "episodes per checkpoint, 0 = off; rows in eval/evaluations.jsonl", lo=0)
    seed: int = option(1000, "reset seed of the evaluated worlds (other worlds than training's)", lo=0)


@dataclass
class Render:
    """The frames a tester streams (world 0, or a grid of the first worlds)."""

    width: int = option(640, "frame width (px)", lo=16, hi=4096)
    height: int = option(480, "frame height (px)", lo=16, hi=4096)
    camera: str = option("fixed", "a camera of the task's model: fixed | track")
    tile: int = option(1, "render a near-square grid of the first k worlds", lo=1, hi=64)
    fps: float = option(25.0, "frames published per second (the sim runs at control rate)", lo=0.1)
    jpegQuality: int = option(80, "JPEG quality of streamed frames", lo=1, hi=100)


@dataclass
class Control:
    """The tester's HTTP control API."""

    # The stack binds 0.0.0.0 on its private network, with a token.
    bind: str = option("127.0.0.1", "address the control API listens on")
    port: int = option(0, "control API port, 0 = any free port", **PORT)
    advertiseUrl: str | None = option(None, "URL the streamer reaches this tester at (default http://127.0.0.1:<port>)")


@dataclass
class View3D:
    """World 0 live in 3D in the browser: MuJoCo's own web viewer (mujoco.studio)."""

    enabled: bool = option(False, "config=test_stream and the stack turn it on; status gives view3d_url")
    port: int = option(0, "viewer port, 0 = any free port; a busy one stops the tester with one line", **PORT)
    # The viewer has no authentication of its own: a container needs it, and the stack relays it on the
    # host's 127.0.0.1 only.
    bindAll: bool = option(False, "true listens on ALL interfaces (and warns)")
    # The page draws at 60 FPS from the newest; each state costs the tester CPU and the page ~5 kB.
    fps: float = option(30.0, "world states per second sent to an open page", lo=1, hi=60)


@dataclass
class Clips:
    """Videos of world 0 at the stream's size (README "Clips"; GET /api/testers/<id>/clips)."""

    enabled: bool = option(True, "false: record nothing (and render nothing for it)")
    # checkpoint: <eval dir>/clips/<tester id>/epoch_<E>.<format>; episode: <test experiment>/videos/.
    every: Literal["checkpoint", "episode"] = option(
        "checkpoint", "checkpoint: the first whole episode after each swap; episode: every one (config=test_record)"
    )
    keep: int = option(30, "most clips kept per tester; past it thinned evenly, the first and newest kept", lo=1)
    format: Literal["mp4", "webm"] = option(
        "mp4", "mp4 plays in every browser and in slides", expects="mp4 (H.264) or webm (VP9)"
    )
    tensorboard: bool = option(False, "also log each clip as a TensorBoard video (a 160 px GIF)")


@dataclass
class Test:
    """Testers: play checkpoints, hot-reload newer ones, stream what they see."""

    id: str | None = option(
        None, "tester id: tile, eval/<id>/, metric labels (default <task>-<pid>; {replica}: stack replica)"
    )
    numEnvs: int = option("${env.numEnvs}", "worlds the tester runs (test presets: 4); world 0 is rendered", lo=1)
    deterministic: bool = option(True, "play the mean action")
    watchEvents: bool = option(True, "filesystem events (watchdog) besides polling every reloadInterval")
    realtime: bool = option(True, "one control step per env.dt (false: as fast as the CPU allows)")
    eval: Eval = section(Eval)
    render: Render = section(Render)
    control: Control = section(Control)
    view3d: View3D = section(View3D)
    clips: Clips = section(Clips)
    streamerUrl: str | None = option(None, "push frames to a streamer service, e.g. http://streamer:58080")
    # The stack mounts runs read-only and gives testers a writable volume here.
    outDir: str | None = option(
        None, "where the tester's runs/<Task>_test_<stamp>/ goes (default runsDir)", **NOT_EMPTY
    )


@dataclass
class Stream:
    """The dashboard served by this process (config=test_stream)."""

    enabled: bool = option(False, "serve the dashboard in this process")
    port: int = option(58080, "dashboard port", lo=1, hi=65535)
    bindAll: bool = option(False, "true binds 0.0.0.0 (and warns); testers then register only with the token")
    token: str | None = option(
        None, "bearer token of every control call (default $POLICYCAST_TOKEN, else generated and printed)"
    )


@dataclass
class Viewer:
    """The local MuJoCo viewer window."""

    enabled: bool = option(False, "open it (config=test_viewer; needs a display)")


@dataclass
class RunConfig:
    """A run: train a policy or test its checkpoints."""

    task: dict = option({}, "the task's own keys: configs/task/<Name>.yaml, chosen by task=")
    mode: Literal["train", "test"] = option("train", "train a policy, or test (play) its checkpoints")
    device: str = option(
        "cpu", "training and policy inference", pattern=r"cpu|cuda(:\d+)?", expects="cpu, cuda or cuda:N"
    )
    headless: bool = option(True, "false opens the local MuJoCo viewer (config=test_viewer)")
    runsDir: str = option("runs", "experiments live here, relative to the working directory", **NOT_EMPTY)
    env: Env = section(Env)
    train: Train = section(Train)
    runs: Runs = section(Runs)
    test: Test = section(Test)
    stream: Stream = section(Stream)
    viewer: Viewer = section(Viewer)
