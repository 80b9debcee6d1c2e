"""Single-world physics speed of the two hand models: the procedural hand and ADROIT.

    python bench/hand_models.py [--seconds 1.0]

For each model and timestep: mj_step/s and 50 Hz control steps/s, with the hand holding its default
pose in the air ("hold") and with random position targets every 20 ms, which slam it into the table
and the box ("random"). Measured round-robin in short slices, so a busy machine slows all alike.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# isort: off
import services.sim  # noqa: E402,F401 (first: it picks MUJOCO_GL, which mujoco reads when imported)

# isort: on
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from services.sim.hands import adroit, procedural  # noqa: E402

CONTROL_DT = 0.02


def stepper(model, random: bool):
    """A function that advances one world by one control step; returns it and its substeps."""
    data, rng = mujoco.MjData(model), np.random.default_rng(0)
    lo, hi = model.actuator_ctrlrange.T
    substeps = round(CONTROL_DT / model.opt.timestep)

    def control_step():
        if random:
            data.ctrl[:] = rng.uniform(lo, hi)
        for _ in range(substeps):
            mujoco.mj_step(model, data)

    return control_step, substeps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="measuring time per case")
    args = ap.parse_args()
    models = {f"procedural dt={dt}": procedural.build_model(timestep=dt) for dt in (0.005,)}
    models |= {f"adroit     dt={dt}": adroit.build_model(timestep=dt) for dt in (0.002, 0.005)}
    cases = {
        (name, mode): stepper(model, mode == "random") for name, model in models.items() for mode in ("hold", "random")
    }
    calls, spent = dict.fromkeys(cases, 0), dict.fromkeys(cases, 0.0)
    for _ in range(5):
        for key, (fn, _) in cases.items():
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < args.seconds / 5:
                fn()
                calls[key] += 1
            spent[key] += time.perf_counter() - t0
    print(f"{'model':20} {'mode':7} {'mj_step/s':>10} {'50 Hz steps/s':>14}")
    for key, (_, substeps) in cases.items():
        rate = calls[key] / spent[key]
        print(f"{key[0]:20} {key[1]:7} {rate * substeps:10,.0f} {rate:14,.0f}")


if __name__ == "__main__":
    main()
