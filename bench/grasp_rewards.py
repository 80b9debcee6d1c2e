#!/usr/bin/env python
"""What BlindGrasping pays for: the episode return of scripted behaviours, under the task as configured
and under the task as it was before (hold paid 0.2 a step, any two fingers a grasp, no lift bonus).

    .venv/bin/python bench/grasp_rewards.py [--worlds 8] [--seed 3]

A policy settles where small changes to what it does no longer pay. Each row is one behaviour a policy
meets on its way to a lift; the columns are what an episode of it returns (mean over --worlds worlds,
each with its own box and hand noise) and how often it succeeds. "grip, never lift" earning more than
the lifts that fail on the way up is the trap one GPU seed in four fell into (issue 22): this table
shows whether the reward still pays that behaviour. Deterministic: no learning, seconds on a CPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from services.sim import make_env  # noqa: E402
from services.sim.hands import procedural  # noqa: E402
from tests.sim.helpers import hand_actions  # noqa: E402

CLOSED = {
    "th_mcp": 1.2,
    "th_pip": 1.0,
    **{f"{f}_{j}": a for f in "ff mf rf lf".split() for j, a in (("mcp", 1.2), ("pip", 1.0))},
}
NO_THUMB = {**{k: v for k, v in CLOSED.items() if not k.startswith("th")}, "th_mcp": -0.2}
OPEN: dict = {}
# (name, fingers closed from step 60, hand raised this far from step 100 (m), fingers opened at step)
BEHAVIOURS = [
    ("reach, never grip", OPEN, 0.0, None),
    ("grip, never lift", CLOSED, 0.0, None),
    ("pinch without the thumb", NO_THUMB, 0.0, None),
    ("lift 3 cm, hold it there", CLOSED, 0.03, None),
    ("lift 1 cm, drop it", CLOSED, 0.01, 110),
    ("lift 10 cm, drop it", CLOSED, 0.10, 140),
    ("lift 25 cm, hold it up", CLOSED, 0.25, None),
]


def task_cfg(before: bool):
    cfg = OmegaConf.load(ROOT / "configs" / "task" / "BlindGrasping.yaml")
    if before:  # the task as it was: what configs saved before these keys existed keep
        del cfg.stages["graspThumb"], cfg.reward["liftBonus"], cfg["liftBonusHeights"]
        cfg.reward.hold = 0.2
    return cfg


def play(cfg, worlds: int, seed: int, fingers: dict, lift: float, release: int | None) -> dict:
    """One episode per world of a scripted behaviour; mean return, success rate, per-term means."""
    env = make_env(cfg, worlds, seed=seed)
    env.reset()
    goal = np.zeros((worlds, 6))
    pre = env.task.pre_offset[2].item() - procedural.PALM_HEIGHT
    done_worlds, episodes = np.zeros(worlds, bool), []
    for k in range(env.max_episode_length):
        goal[:, 2] = pre + (lift if k >= 100 else 0.0)
        closed = fingers if k >= 60 and (release is None or k < release) else OPEN
        _, _, done, info = env.step(hand_actions(env, goal, closed))
        episodes += [e for e in info["episodes"] if not done_worlds[e["world"]]]
        done_worlds |= done.numpy()
        if done_worlds.all():
            break
    env.close()
    terms = {t: float(np.mean([e["reward_terms"][t] for e in episodes])) for t in episodes[0]["reward_terms"]}
    return {
        "return": float(np.mean([e["return"] for e in episodes])),
        "success": float(np.mean([e["success"] for e in episodes])),
        "length": float(np.mean([e["length"] for e in episodes])),
        "terms": terms,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=8)
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    print(f"BlindGrasping, scripted behaviours, {a.worlds} worlds each (seed {a.seed}): mean episode return")
    print(
        f"{'behaviour':<26}{'before':>10}{'success':>9}{'length':>8}{'now':>10}{'success':>9}{'length':>8}"
        "  largest terms now"
    )
    for name, fingers, lift, release in BEHAVIOURS:
        old = play(task_cfg(True), a.worlds, a.seed, fingers, lift, release)
        new = play(task_cfg(False), a.worlds, a.seed, fingers, lift, release)
        top = sorted(new["terms"].items(), key=lambda kv: -abs(kv[1]))[:3]
        print(
            f"{name:<26}{old['return']:>10.1f}{100 * old['success']:>8.0f}%{old['length']:>8.0f}"
            f"{new['return']:>10.1f}{100 * new['success']:>8.0f}%{new['length']:>8.0f}  "
            + ", ".join(f"{k} {v:+.1f}" for k, v in top),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
