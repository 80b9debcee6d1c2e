"""Simulation throughput: how fast the batched envs step and render on this machine.

    python bench/sim_throughput.py [--seconds 1.0] [--envs 1 16 64 256] [--tasks Reach BlindGrasping]
    python bench/sim_throughput.py --backend warp --device cuda:0     # MuJoCo Warp: 1k / 4k / 16k / 64k worlds

Prints, side by side in one run:
1. physics only (the task's substeps per control step, same model, same controls) for each way of stepping
   N worlds: a Python loop over MjData, a thread pool over MjData (mj_step releases the GIL),
   `mujoco.rollout` (C thread pool, state in/out per call), `mujoco.batch.Batch` with 1 and with all
   threads; the fastest at each N is marked, and the one services.sim uses is named;
   Strategies are timed round-robin in short slices, so a busy machine slows them alike.
2. the full env (`make_env(...).step`: task math, auto-reset, torch tensors) env-steps/s;
3. render ms/frame (median) at 320x240 and 640x480, fixed camera, one world and a 2x2 tile.
With --compile, the full env eager and with its task math fused by torch.compile (env.compile=true),
side by side, and the fused env's first step (the compile).
With --backend warp: physics steps/s of MuJoCo Warp alone (the captured graph of a control step's
substeps) next to the full env's env-steps/s at the same world counts: their ratio is what the task
math, resets and the env's bookkeeping cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# isort: off
import services.sim  # noqa: E402,F401 (first: it picks MUJOCO_GL, which mujoco reads when imported)

# isort: on
import mujoco  # noqa: E402
import mujoco.batch  # noqa: E402
import mujoco.rollout  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch._dynamo  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from services.sim import make_env  # noqa: E402
from services.sim.backends.mujoco_batch import default_threads  # noqa: E402

CPUS = os.cpu_count() or 1


def timed(fn, seconds: float, sync=lambda: None) -> float:
    """Calls of fn per second over about `seconds` (after one warm-up call); `sync` waits for a GPU."""
    fn()
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    sync()
    return n / (time.perf_counter() - t0)


def interleaved(fns: dict, seconds: float, rounds: int = 5) -> dict:
    """Calls/s of each fn, measured round-robin in short slices so that all see the same machine load."""
    calls = dict.fromkeys(fns, 0)
    spent = dict.fromkeys(fns, 0.0)
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds / rounds:
                fn()
                calls[name] += 1
            spent[name] += time.perf_counter() - t0
    return {name: calls[name] / spent[name] for name in fns}


def physics_strategies(model, n: int, substeps: int, ctrl: np.ndarray):
    """name -> a function that advances n worlds by one control step (substeps mj_steps each)."""
    datas = [mujoco.MjData(model) for _ in range(n)]

    def loop():
        for d, u in zip(datas, ctrl):
            d.ctrl[:] = u
            for _ in range(substeps):
                mujoco.mj_step(model, d)

    pool = ThreadPoolExecutor(CPUS)
    chunks = [list(range(i, n, CPUS)) for i in range(min(CPUS, n))]

    def step_chunk(ids):
        for i in ids:
            datas[i].ctrl[:] = ctrl[i]
            for _ in range(substeps):
                mujoco.mj_step(model, datas[i])

    def threads():
        list(pool.map(step_chunk, chunks))

    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    size = mujoco.mj_stateSize(model, spec)
    state = np.zeros((n, size))
    for i, d in enumerate(datas):
        mujoco.mj_getState(model, d, state[i], spec)
    thread_datas = [mujoco.MjData(model) for _ in range(CPUS)]
    control = np.repeat(ctrl[:, None, :], substeps, axis=1)
    out_state = np.zeros((n, substeps, size))
    out_sens = np.zeros((n, substeps, model.nsensordata))

    def rollout():
        mujoco.rollout.rollout(
            model, thread_datas, state, control, state=out_state, sensordata=out_sens, persistent_pool=True
        )
        state[:] = out_state[:, -1]  # the env would carry state between calls like this

    batches = {}
    for nt in sorted({1, CPUS}):
        b = mujoco.batch.Batch(model, n, nthread=nt)
        b.bind("ctrl")[:] = ctrl
        for field in ("qpos", "qvel", "sensordata", "site_xpos"):  # what the env binds
            b.bind(field)
        batches[nt] = b
    found = {"python loop": loop, f"thread pool ({CPUS})": threads, f"mujoco.rollout ({CPUS})": rollout}
    for nt, b in batches.items():
        found[f"mujoco.batch ({nt} thr)"] = lambda b=b: b.step(nstep=substeps)
    return found, pool


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    ap.add_argument("--envs", type=int, nargs="+", default=[1, 16, 64, 256])
    ap.add_argument("--tasks", nargs="+", default=["Reach", "BlindGrasping"])
    ap.add_argument("--skip-physics", action="store_true", help="only the env and render figures")
    ap.add_argument("--backend", choices=("mujoco", "warp"), default="mujoco")
    ap.add_argument("--device", default="cpu", help="warp: cuda:0 (or cpu, Warp's slow CPU device)")
    ap.add_argument(
        "--compile", action="store_true", help="the full env eager vs its task math fused (env.compile), side by side"
    )
    args = ap.parse_args(argv)
    if args.backend == "warp":
        return warp_bench(args)

    print(
        f"machine: {platform.node()} | {platform.processor() or platform.machine()} | {CPUS} cpus | "
        f"load {os.getloadavg()[0]:.1f} | mujoco {mujoco.__version__} | torch {torch.__version__} | "
        f"MUJOCO_GL={os.environ['MUJOCO_GL']}"
    )
    cfgs = {t: OmegaConf.load(ROOT / "configs" / "task" / f"{t}.yaml") for t in args.tasks}

    if not args.skip_physics:
        ratios = []
        print("\n1) physics only: env-steps/s (one env-step = one control step of the task's substeps), * = fastest")
        for task, cfg in cfgs.items():
            env = make_env(cfg, 1)
            model, substeps = env.model, env.task.substeps
            for n in args.envs:
                ctrl = np.random.default_rng(0).uniform(env.task.ctrl_lo, env.task.ctrl_hi, (n, model.nu)) * 0.3
                strategies, pool = physics_strategies(model, n, substeps, ctrl)
                rates = {name: rate * n for name, rate in interleaved(strategies, args.seconds).items()}
                pool.shutdown()
                best = max(rates, key=rates.get)
                used = (
                    rates[f"mujoco.batch ({default_threads(n)} thr)"]
                    if f"mujoco.batch ({default_threads(n)} thr)" in rates
                    else max(v for k, v in rates.items() if k.startswith("mujoco.batch"))
                )
                ratios.append(f"{task} N={n}: {used / rates[best]:.2f}")
                cells = "  ".join(f"{name} {rate:>8,.0f}{'*' if name == best else ' '}" for name, rate in rates.items())
                print(f"  {task:<13} N={n:<4} {cells}")
        print(
            "  services.sim uses mujoco.batch: bit-identical to a loop over MjData, live (N, ...) arrays "
            "for the task math; threads here: "
            + ", ".join(f"N={n}: {default_threads(n)}" for n in args.envs)
            + " (POLICYCAST_SIM_THREADS overrides)"
        )
        print("  its rate / the fastest here: " + ", ".join(ratios))

    print("\n2) full env: make_env(...).step with random actions (task math, auto-reset, torch tensors)")
    if args.compile:
        print("   eager vs the task math fused (env.compile=true), side by side; compile: its first step")
    for task, cfg in cfgs.items():
        row = []
        for n in args.envs:
            if args.compile:
                rates, ready = eager_vs_fused(cfg, n, "cpu", "mujoco", args.seconds)
                row.append(
                    f"N={n} {rates['eager']:>8,.0f} vs {rates['fused']:>8,.0f} "
                    f"({rates['fused'] / rates['eager']:.2f}x, compile {ready:.0f} s)"
                )
                continue
            env = make_env(cfg, n, seed=0)
            env.reset()
            rng = np.random.default_rng(0)
            acts = [torch.as_tensor(rng.uniform(-1, 1, (n, env.num_actions)), dtype=torch.float32) for _ in range(8)]
            k = iter(range(10**9))
            rate = timed(lambda: env.step(acts[next(k) % 8]), args.seconds) * n
            row.append(f"N={n} {rate:>8,.0f} ({default_threads(n)} thr)")
            env.close()
        print(f"  {task:<13} env-steps/s  " + "  ".join(row))

    print("\n3) render ms/frame (median of 30, fixed camera, shadows and reflections off)")
    env = make_env(cfgs[args.tasks[0]], 4, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    for w, h in ((320, 240), (640, 480)):
        for tile in (1, 4):
            env.render(w, h, tile=tile)  # creates the renderer(s)
            times = []
            for _ in range(30):
                env.step(torch.as_tensor(rng.uniform(-1, 1, (4, env.num_actions)), dtype=torch.float32))
                t0 = time.perf_counter()
                env.render(w, h, camera="fixed", tile=tile)
                times.append((time.perf_counter() - t0) * 1000)
            print(f"  {w}x{h} tile={tile}: {statistics.median(times):6.1f} ms/frame")
    env.close()
    return 0


FUSION = ("eager", "fused")


def eager_vs_fused(cfg, n: int, device: str, backend: str, seconds: float, sync=lambda: None):
    """({'eager': env-steps/s, 'fused': env-steps/s}, seconds the fused env's first step took: compiling).

    The two envs step round-robin in short slices (`interleaved`), so machine load slows both alike.
    """
    envs = {name: make_env(cfg, n, device=device, seed=0, backend=backend, compile=name == "fused") for name in FUSION}
    acts = [torch.rand(n, envs["eager"].num_actions, device=device) * 2 - 1 for _ in range(8)]
    torch._dynamo.config.recompile_limit = 64  # one compile per task and size here, not one per process
    for env in envs.values():
        env.reset()
    envs["eager"].step(acts[0])  # on warp: captures the physics graphs, which the fused env's first step does too
    sync()
    t0 = time.perf_counter()
    envs["fused"].step(acts[0])  # compiles
    sync()
    ready = time.perf_counter() - t0
    if not envs["fused"].fusion.enabled:
        print("  (the fused env fell back to eager: see the warning above)")
    k = iter(range(10**9))

    def stepper(env):
        def step():
            env.step(acts[next(k) % 8])
            sync()

        return step

    rates = interleaved({name: stepper(env) for name, env in envs.items()}, seconds)
    for env in envs.values():
        env.close()
    return {name: rate * n for name, rate in rates.items()}, ready


def warp_bench(args) -> int:
    import warp as wp

    envs = args.envs if args.envs != [1, 16, 64, 256] else [1024, 4096, 16384, 65536]
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    gpu = torch.cuda.get_device_name(0) if cuda else "none"
    print(
        f"machine: {platform.node()} | GPU {gpu} | {CPUS} cpus | mujoco {mujoco.__version__} | "
        f"warp {wp.__version__} | torch {torch.__version__} | device {args.device}"
    )
    print(
        "\nMuJoCo Warp: physics steps/s (world-steps: worlds x substeps per second), env-steps/s of the physics"
        " alone and of the full env (task math in torch, auto-reset, rewards), and their ratio"
    )
    for task, cfg in {t: OmegaConf.load(ROOT / "configs" / "task" / f"{t}.yaml") for t in args.tasks}.items():
        for n in envs:
            t0 = time.perf_counter()
            env = make_env(cfg, n, device=args.device, seed=0, backend="warp")
            env.reset()
            acts = [torch.rand(n, env.num_actions, device=args.device) * 2 - 1 for _ in range(8)]
            env.step(acts[0])  # compiles (first time) and captures the graphs
            sync()
            ready = time.perf_counter() - t0
            sub = env.task.substeps
            physics = timed(lambda: env.physics.step(sub), args.seconds, sync) * n
            k = iter(range(10**9))
            full = timed(lambda: env.step(acts[next(k) % 8]), args.seconds, sync) * n
            print(
                f"  {task:<13} N={n:<6} physics {physics * sub:>12,.0f} steps/s = {physics:>11,.0f} env-steps/s | "
                f"full env {full:>11,.0f} env-steps/s ({full / physics:.2f} of physics) | ready in {ready:.0f} s",
                flush=True,
            )
            env.close()
            env = None  # freed before the next size is built (GPU memory)
            if args.compile:
                rates, compiling = eager_vs_fused(cfg, n, args.device, "warp", args.seconds, sync)
                print(
                    f"  {'':<13} {'':<8} full env eager {rates['eager']:>11,.0f} vs fused {rates['fused']:>11,.0f} "
                    f"env-steps/s ({rates['fused'] / rates['eager']:.2f}x) side by side | compile {compiling:.0f} s",
                    flush=True,
                )
            if cuda:
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
