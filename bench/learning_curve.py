#!/usr/bin/env python
"""Learning curve: the real trainer, and a seeded evaluation of every checkpoint as it lands.

    .venv/bin/python bench/learning_curve.py Reach --minutes 3
    .venv/bin/python bench/learning_curve.py BlindGrasping --minutes 120 --num-envs 128 --seeds 1 2 3 \\
        [--parallel] [--backend auto|mujoco|warp] [--device cpu|cuda:0] [--episodes 16] [--save-every 5] [--out DIR]

Per seed, one after the other (`--parallel`: side by side, e.g. four seeds sharing one GPU; on a CPU they
would share its cores):
1. `train.py config=train_headless task=TASK maxIterations=null seed=S ...` trains until --minutes have
   passed, then gets SIGTERM (it saves a final checkpoint and exits 0);
2. beside it, `train.py config=test checkpoint=<that run> test.eval.episodes=K test.realtime=false`
   evaluates each checkpoint as it lands (the periodic ones, every --save-every epochs, and the final
   one; the trainer writes no best-so-far file here): every world reset from the same seed, the same K episodes for
   every checkpoint (a tester always simulates on the CPU backend). A checkpoint landing during an
   evaluation waits; several landing then: the newest is taken. After the trainer stops, the final
   checkpoint's evaluation is waited for (bounded), then the evaluator is stopped.
Writes OUT/curve.csv (one row per evaluated checkpoint and seed: env-steps, seconds since the trainer
started, epoch, mean return, success rate, the share of episodes whose box the hand held >= 5 cm up
(tasks with a `best_lift` metric), each reward term's mean per-episode sum), OUT/curve.png (return and
success vs env-steps; several seeds as mean and min..max band), OUT/summary.csv (per seed: env-steps and
seconds to the first checkpoint at >= 30 % and >= 50 % success and to the first 5 cm lift, the best
success, and the mean success over the last third of the run) and prints both tables. The training and
evaluation run on the same machine and share its cores: the load is printed with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.core.checkpoints import epoch_of, list_checkpoints  # noqa: E402
from services.core.cli import command  # noqa: E402

EVAL_SEED = 1000
EVALUATOR_ID = "learning-curve"  # the evaluator's test.id: its rows are <experiment>/eval/<this>/evaluations.jsonl
START_TIMEOUT_S = 300  # trainer start-up (imports, env, compile on a GPU) before latest_train appears
STOP_TIMEOUT_S = 120  # SIGTERM -> final checkpoint saved and exited
FINAL_EVAL_TIMEOUT_S = 300  # the final checkpoint's evaluation, after training stopped
LIFT_M = 0.05  # the stand-in's "first lift": an evaluated episode whose box the hand held this high (m)
THRESHOLDS = (0.3, 0.5)  # success rates whose first checkpoint the summary reports


class SeedError(Exception):
    """One seed's run failed (its trainer exited early, or never started); str() says why."""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task")
    ap.add_argument("--minutes", type=float, default=3.0, help="training time per seed")
    ap.add_argument("--num-envs", type=int, default=64, help="training worlds")
    ap.add_argument("--backend", default="auto", help="training physics: auto | mujoco | warp")
    ap.add_argument("--device", default="cpu", help="training device: cpu | cuda:0")
    ap.add_argument("--seed", type=int, action="append", help="a training seed (repeat for several)")
    ap.add_argument("--seeds", type=int, nargs="+", help="several training seeds")
    ap.add_argument(
        "--parallel", action="store_true", help="train the seeds side by side (one GPU) instead of one after another"
    )
    ap.add_argument("--episodes", type=int, default=16, help="seeded evaluation episodes per checkpoint")
    ap.add_argument(
        "--save-every",
        type=int,
        default=5,
        help="epochs between periodic checkpoints (hours-long runs: more, or they fill the disk)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for the trainer (repeat; e.g. task.reward.hold=0.2): the evaluator plays the "
        "run's saved config, so it sees the same task",
    )
    ap.add_argument("--out", type=Path, default=None, help="default: bench-out/learning_curve_<task>_<time>")
    a = ap.parse_args()
    seeds = list(dict.fromkeys((a.seed or []) + (a.seeds or []))) or [42]
    for name in ("minutes", "num_envs", "episodes", "save_every"):
        if getattr(a, name) <= 0:
            ap.error(f"--{name.replace('_', '-')}: expects a number > 0")
    out = a.out or ROOT / "bench-out" / f"learning_curve_{a.task}_{datetime.now():%Y%m%d_%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {_load()}; {a.task}: {a.minutes:g} min "
        f"of training per seed, seeds {' '.join(map(str, seeds))} {'side by side' if a.parallel else 'in turn'}, "
        f"{a.num_envs} envs, device={a.device}, backend={a.backend}; "
        f"{a.episodes} seeded eval episodes per checkpoint (seed {EVAL_SEED}, CPU); out: {out}",
        flush=True,
    )
    # SIGTERM (kill, a job's time limit) unwinds like Ctrl+C: run_seed stops the trainer and evaluator
    # it started (left running, they trained on for hours) and the curve so far is on disk.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows: list[dict] = []
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[str] = []

    def one(seed: int) -> None:
        try:
            run_seed(a, seed, out / f"seed{seed}", rows, lambda: save(out, rows, a, lock), lock, stop)
        except SeedError as e:  # one seed's trainer failing does not stop the others
            failures.append(str(e))
            print(f"error: {e}", file=sys.stderr, flush=True)

    try:
        if a.parallel:
            threads = [threading.Thread(target=one, args=(s,), daemon=True) for s in seeds]
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.5)  # a bounded join: Ctrl+C / SIGTERM still reach this thread
        else:
            for seed in seeds:
                one(seed)
    finally:
        stop.set()  # the seeds' threads stop what they started (bounded waits)
        for t in threading.enumerate():
            if t is not threading.current_thread() and t.daemon:
                t.join(STOP_TIMEOUT_S + 10)
    print(f"load at the end: {_load()}", flush=True)
    if not rows:
        print("no checkpoint was evaluated", file=sys.stderr)
        return 1
    save(out, rows, a, lock)
    rows.sort(key=lambda r: (r["seed"], r["env_steps"]))
    print_table(rows, _terms(rows))
    print_summary(summarize(rows, seeds))
    print(f"\n{out / 'curve.csv'}\n{out / 'summary.csv'}\n{out / 'curve.png'}")
    return 1 if failures else 0


def save(out: Path, rows: list[dict], a, lock: threading.Lock) -> None:
    """The CSVs and the plot so far: rewritten as points arrive, so a long run cut short keeps its curve."""
    with lock:
        if rows:
            ordered = sorted(rows, key=lambda r: (r["seed"], r["env_steps"]))
            write_csv(out / "curve.csv", ordered, _terms(ordered))
            write_summary(out / "summary.csv", summarize(ordered, sorted({r["seed"] for r in ordered})))
            plot(out / "curve.png", ordered, a)


def _terms(rows: list[dict]) -> list[str]:
    return sorted({k for r in rows for k in (r["reward_terms"] or {})})


def run_seed(a, seed: int, work: Path, rows: list[dict], on_points, lock, stop: threading.Event) -> None:
    """Train one seed for --minutes beside a seeded evaluator; its points are appended to rows as they land.

    `stop` set (Ctrl+C, SIGTERM, from the main thread) ends it early, stopping both processes."""
    runs = work / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    log = open(work / "processes.log", "w")
    started = time.time()
    trainer = subprocess.Popen(
        command(
            "train",
            "config=train_headless",
            f"train.saveFrequency={a.save_every}",
            # no best-so-far file: it is rewritten almost every epoch, and evaluating each one would take
            # the CPU the training needs; the curve's points are the periodic checkpoints and the final one
            "train.params.config.save_best_after=1000000000",
            *a.set,
            task=a.task,
            numEnvs=a.num_envs,
            maxIterations=None,
            seed=seed,
            device=a.device,
            backend=a.backend,
            runsDir=runs,
        ),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    evaluator = None
    try:
        experiment = _wait(
            lambda: (runs / "latest_train").is_dir() and (runs / "latest_train").resolve(),
            START_TIMEOUT_S,
            trainer,
            "the trainer's experiment",
            stop,
        )
        print(f"seed {seed}: training {experiment.name} (pid {trainer.pid}); evaluating beside it", flush=True)
        evaluator = subprocess.Popen(
            command(
                "train",
                "config=test",
                f"test.eval.episodes={a.episodes}",
                f"test.eval.seed={EVAL_SEED}",
                "test.realtime=false",
                f"test.numEnvs={min(a.episodes, 64)}",
                f"test.outDir={work / 'tester'}",
                f"test.id={EVALUATOR_ID}",
                "test.clips.enabled=false",  # no rendering: each eval's time is the policy's episodes only
                task=a.task,
                checkpoint=experiment,
                reloadInterval=2,
                device="cpu",
                runsDir=runs,
            ),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        evaluations = experiment / "eval" / EVALUATOR_ID / "evaluations.jsonl"  # the evaluator's own folder
        deadline = time.monotonic() + 60 * a.minutes

        def collect() -> None:
            new = _new_rows(evaluations, rows, seed, started)
            if new:
                with lock:
                    rows.extend(new)
                on_points()

        while time.monotonic() < deadline and trainer.poll() is None and not stop.is_set():
            collect()
            stop.wait(1)
        if stop.is_set():
            return
        if trainer.poll() is not None:
            raise SeedError(f"seed {seed}: the trainer exited early ({trainer.returncode}); see {log.name}")
        trainer.send_signal(signal.SIGTERM)  # it saves a final checkpoint
        if trainer.wait(STOP_TIMEOUT_S) != 0:
            raise SeedError(f"seed {seed}: the trainer exited {trainer.returncode} after SIGTERM; see {log.name}")
        final = max((epoch_of(p) for p in list_checkpoints(experiment) if epoch_of(p) is not None), default=None)
        print(f"seed {seed}: training stopped at epoch {final}; evaluating its final checkpoint", flush=True)
        deadline = time.monotonic() + FINAL_EVAL_TIMEOUT_S
        while time.monotonic() < deadline and evaluator.poll() is None and not stop.is_set():
            collect()
            mine = [r for r in rows if r["seed"] == seed]
            if final is None or any(r["epoch"] is not None and r["epoch"] >= final for r in mine):
                break
            stop.wait(1)
        else:
            print(f"seed {seed}: the final checkpoint was not evaluated within {FINAL_EVAL_TIMEOUT_S} s", flush=True)
    finally:
        for proc in (trainer, evaluator):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
        log.close()


def _new_rows(evaluations: Path, seen: list[dict], seed: int, started: float) -> list[dict]:
    """Rows the evaluator appended since the last look, printed as they come (one line per checkpoint)."""
    try:
        lines = evaluations.read_text().splitlines()
    except FileNotFoundError:
        return []
    known = sum(1 for r in seen if r["seed"] == seed)
    new = []
    for line in lines[known:]:
        if not line.endswith("}"):
            break  # being written
        r = json.loads(line)
        row = {
            "seed": seed,
            "env_steps": r["frame"],
            "wall_s": r["saved_at"] - started,
            "epoch": r["epoch"],
            "mean_return": r["mean_return"],
            "success_rate": r["success_rate"],
            "lift_rate": _lift_rate(evaluations.with_name("episodes.jsonl"), r["checkpoint"], r["epoch"]),
            "reward_terms": r["reward_terms"],
            "eval_s": r["eval_s"],
        }
        new.append(row)
        lifted = "" if row["lift_rate"] is None else f" | held >= 5 cm {100 * row['lift_rate']:3.0f}%"
        print(
            f"seed {seed} | epoch {row['epoch']:>5} | {row['env_steps']:>11,} env-steps | {row['wall_s']:6.0f} s | "
            f"return {row['mean_return']:8.2f} | success {100 * row['success_rate']:3.0f}%{lifted} | "
            f"eval {row['eval_s']:.1f} s | load {_load()}",
            flush=True,
        )
    return new


def _lift_rate(episodes: Path, checkpoint: str, epoch) -> float | None:
    """The share of this checkpoint's evaluated episodes whose box the hand held >= LIFT_M up (the task's
    `best_lift` metric on the episode's last step); None when the task has no such metric."""
    try:
        lines = episodes.read_text().splitlines()
    except FileNotFoundError:
        return None
    best = []
    for line in lines:
        if not line.endswith("}"):
            continue
        e = json.loads(line)
        if e.get("checkpoint") == checkpoint and e.get("epoch") == epoch and not e.get("spans_reload"):
            best.append((e.get("metrics") or {}).get("best_lift"))
    if not best or None in best:
        return None
    return sum(b >= LIFT_M for b in best) / len(best)


def summarize(rows: list[dict], seeds: list[int]) -> list[dict]:
    """Per seed: when success first reached each of THRESHOLDS and the box was first held 5 cm up
    (env-steps, seconds since the trainer started), the best success, and the mean success over the
    last third of the run (by env-steps: how well it holds what it learnt)."""
    out = []
    for seed in seeds:
        pts = sorted((r for r in rows if r["seed"] == seed), key=lambda r: r["env_steps"])
        if not pts:
            continue
        end = pts[-1]["env_steps"]
        last = [r["success_rate"] for r in pts if r["env_steps"] >= end * 2 / 3]
        s = {
            "seed": seed,
            "checkpoints": len(pts),
            "env_steps": end,
            "wall_s": pts[-1]["wall_s"],
            "best_success": max(r["success_rate"] for r in pts),
            "last_third_success": sum(last) / len(last),
        }
        first = lambda ok: next((r for r in pts if ok(r)), None)  # noqa: E731
        for t in THRESHOLDS:
            hit = first(lambda r, t=t: r["success_rate"] >= t)
            s[f"steps_to_{int(100 * t)}"] = hit and hit["env_steps"]
            s[f"s_to_{int(100 * t)}"] = hit and round(hit["wall_s"])
        hit = first(lambda r: (r.get("lift_rate") or 0) > 0)
        s["steps_to_lift"], s["s_to_lift"] = hit and hit["env_steps"], hit and round(hit["wall_s"])
        s["lift_metric"] = any(r.get("lift_rate") is not None for r in pts)
        out.append(s)
    return out


SUMMARY = (
    ["seed", "checkpoints", "env_steps", "wall_s", "steps_to_lift", "s_to_lift"]
    + [f"{k}_to_{int(100 * t)}" for t in THRESHOLDS for k in ("steps", "s")]
    + ["best_success", "last_third_success"]
)


def write_summary(path: Path, summary: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(SUMMARY)
        for s in summary:
            w.writerow(["" if s[k] is None else (f"{s[k]:.4f}" if isinstance(s[k], float) else s[k]) for k in SUMMARY])


def print_summary(summary: list[dict]) -> None:
    def when(steps, secs, measured=True):
        return "n/a" if not measured else "not reached" if steps is None else f"{steps / 1e6:.2f}M / {secs} s"

    print(
        f"\n{'seed':>5}{'env-steps':>12}{'min':>6}{'first 5 cm lift':>20}{'>= 30 %':>20}{'>= 50 %':>20}"
        f"{'best':>7}{'last third':>12}"
    )
    for s in summary:
        lift = when(s["steps_to_lift"], s["s_to_lift"], s["lift_metric"])
        print(
            f"{s['seed']:>5}{s['env_steps']:>12,}{s['wall_s'] / 60:>6.1f}{lift:>20}"
            f"{when(s['steps_to_30'], s['s_to_30']):>20}{when(s['steps_to_50'], s['s_to_50']):>20}"
            f"{100 * s['best_success']:>6.0f}%{100 * s['last_third_success']:>11.0f}%"
        )


def _wait(predicate, timeout: float, proc, what: str, stop: threading.Event):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise SeedError(f"the trainer exited ({proc.returncode}) before {what}")
        stop.wait(0.5)
    raise SeedError(
        f"stopped while waiting for {what}" if stop.is_set() else f"timed out after {timeout} s waiting for {what}"
    )


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


COLUMNS = ["seed", "env_steps", "wall_s", "epoch", "mean_return", "success_rate", "lift_rate"]


def write_csv(path: Path, rows: list[dict], terms: list[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS + [f"reward_{t}" for t in terms])
        for r in rows:
            w.writerow(
                [
                    r["seed"],
                    r["env_steps"],
                    f"{r['wall_s']:.1f}",
                    r["epoch"],
                    f"{r['mean_return']:.4f}",
                    f"{r['success_rate']:.4f}",
                    "" if r.get("lift_rate") is None else f"{r['lift_rate']:.4f}",
                ]
                + [f"{(r['reward_terms'] or {}).get(t, float('nan')):.4f}" for t in terms]
            )


def print_table(rows: list[dict], terms: list[str]) -> None:
    head = f"{'seed':>5}{'env_steps':>12}{'wall_s':>8}{'epoch':>7}{'return':>9}{'success':>9}"
    print("\n" + head + "".join(f"{t:>13}" for t in terms))
    for r in rows:
        print(
            f"{r['seed']:>5}{r['env_steps']:>12,}{r['wall_s']:>8.0f}{r['epoch']:>7}{r['mean_return']:>9.2f}"
            f"{100 * r['success_rate']:>8.0f}%"
            + "".join(f"{(r['reward_terms'] or {}).get(t, float('nan')):>13.2f}" for t in terms)
        )


def plot(path: Path, rows: list[dict], a) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 (matplotlib.ticker below)
    import numpy as np

    seeds = sorted({r["seed"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), dpi=100)
    for ax, key, label, scale in (
        (axes[0], "mean_return", "mean return", 1),
        (axes[1], "success_rate", "success rate (%)", 100),
    ):
        curves = []
        for s in seeds:
            pts = sorted((r["env_steps"], r[key] * scale) for r in rows if r["seed"] == s)
            curves.append((np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)))
        if len(curves) == 1:
            ax.plot(*curves[0], marker="o", markersize=3)
        else:  # mean and min..max over the seeds, on the env-steps every seed reached
            lo, hi = max(c[0][0] for c in curves), min(c[0][-1] for c in curves)
            grid = np.linspace(lo, hi, 100)
            ys = np.array([np.interp(grid, x, y) for x, y in curves])
            ax.fill_between(grid, ys.min(0), ys.max(0), alpha=0.25, label="min..max")
            ax.plot(grid, ys.mean(0), label=f"mean of {len(curves)} seeds")
            ax.legend(loc="lower right", fontsize=8)
        if key == "success_rate":
            ax.set_ylim(-3, 103)
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))  # 20k, 1.5M
        ax.set_xlabel("env-steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"{a.task}: {a.minutes:g} min of training per seed, {a.num_envs} envs ({a.device}); "
        f"{a.episodes} seeded eval episodes per checkpoint",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
