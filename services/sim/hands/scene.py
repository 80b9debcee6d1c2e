"""What every hand scene gets, whichever hand hangs in it: gravity compensation and the contacts switch."""

from __future__ import annotations

MOUNT = "hand"  # the body that carries the six base DoF; each hand model's bodies hang below it


def compensate_gravity(spec) -> None:
    """gravcomp on the mount and every body below it: the position servos then only move the hand, they never
    hold it up (gravcomp on a body compensates that body alone, not its children)."""
    import mujoco

    mount = spec.body(MOUNT)
    for b in [mount, *mount.find_all(mujoco.mjtObj.mjOBJ_BODY)]:
        b.gravcomp = 1.0


def compile_scene(spec, contacts: bool):
    """The MjModel of a hand's MjSpec; `contacts=False` switches collision off (Reach needs none, and steps
    faster)."""
    import mujoco

    model = spec.compile()
    if not contacts:
        model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    return model
