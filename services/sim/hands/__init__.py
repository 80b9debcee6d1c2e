"""Hand models by name (`task.hand`): `procedural` (generated here) and `adroit` (DAPG's ADROIT hand).

Each is a module with the same contract: `build_model(with_box, offscreen, timestep, contacts, with_target)
-> MjModel`, `build_spec(with_box, offscreen, timestep, with_target) -> MjSpec` (the same scene,
uncompiled), `BASE_JOINTS` (the six arm-mount DoF, actuated first), `FINGERS`, `actuated_joints()`
(actuator order), `COUPLINGS` ((follower, leader, ratio) joint pairs) and `BOX_HALF`; the model names
its sites, sensors, cameras and bodies as docs/tasks.md lists ("Hand models"). What every hand scene
gets whichever hand is in it (gravity compensation, the contacts switch) is in `scene`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

HANDS = {"procedural": "services.sim.hands.procedural", "adroit": "services.sim.hands.adroit"}


def hand_module(name: str) -> ModuleType:
    """The module of the hand model called `name`."""
    if name not in HANDS:
        raise ValueError(f"hand {name!r}: unknown hand model; accepts {', '.join(sorted(HANDS))}")
    return importlib.import_module(HANDS[name])
