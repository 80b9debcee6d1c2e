"""Hand models by name (`task.hand`): each is a module with the same contract as services.sim.hand.

Contract: `build_model(with_box, offscreen, timestep, contacts, with_target) -> MjModel`,
`BASE_JOINTS` (the six arm-mount DoF, actuated first), `FINGERS`, `actuated_joints()` (actuator
order), `COUPLINGS` ((follower, leader, ratio) joint pairs) and `BOX_HALF`; the model names its
sites, sensors, cameras and bodies as docs/tasks.md lists ("Hand models").
"""

from __future__ import annotations

import importlib

from services.sim.tasks.base import TaskConfigError

HANDS = {"procedural": "services.sim.hand", "adroit": "services.sim.adroit"}


def hand_module(name: str):
    if name not in HANDS:
        raise TaskConfigError(f"task.hand={name!r}: unknown hand; accepts {', '.join(sorted(HANDS))}")
    return importlib.import_module(HANDS[name])
