"""The hand models by name (services.sim.hands): the registry, and what every hand gets from scene.py."""

import mujoco
import numpy as np
import pytest
import torch

from services.sim.hands import HANDS, hand_module, procedural


def test_the_registry_picks_a_hand_by_name_and_refuses_others():
    assert hand_module("procedural") is procedural
    assert hand_module("adroit").actuated_joints()[6:8] == ["adroit/WRJ1", "adroit/WRJ0"]
    with pytest.raises(ValueError, match=r"hand 'left': unknown hand model; accepts adroit, procedural"):
        hand_module("left")


def _below_mount(model) -> list[int]:
    mount, out = model.body("hand").id, []
    for b in range(model.nbody):
        a = b
        while a > 0 and a != mount:
            a = model.body_parentid[a]
        out += [b] if a == mount else []
    return out


@pytest.mark.parametrize("name", sorted(HANDS))
def test_each_hand_body_is_held_up_so_the_servos_only_move_it(name):
    m = hand_module(name).build_model()
    hand_bodies = _below_mount(m)
    assert len(hand_bodies) > 10 and np.all(m.body_gravcomp[hand_bodies] == 1.0)
    assert m.ngravcomp == len(hand_bodies)  # counted at compile time: MuJoCo skips gravcomp when it is 0
    assert m.body_gravcomp[m.body("box").id] == 0.0  # the box falls onto the table as ever
    # the hand's servos hold its default pose: the palm stays put (without compensation it sinks 3.7 mm, ADROIT 82 mm)
    data = mujoco.MjData(m)
    data.ctrl[:] = np.clip(m.qpos0[m.jnt_qposadr[m.actuator_trnid[:, 0]]], *m.actuator_ctrlrange.T)
    mujoco.mj_forward(m, data)
    palm0 = data.site("palm_centre").xpos.copy()
    for _ in range(round(1.0 / m.opt.timestep)):
        mujoco.mj_step(m, data)
    assert np.linalg.norm(data.site("palm_centre").xpos - palm0) < 1e-3


@pytest.mark.parametrize("name", sorted(HANDS))
def test_contacts_off_switches_collision_off_and_changes_nothing_else(name):
    hand = hand_module(name)
    on, off = hand.build_model(), hand.build_model(contacts=False)
    assert not on.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_CONTACT
    assert off.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_CONTACT
    assert (off.nbody, off.nu, off.nsensor, off.ngeom) == (on.nbody, on.nu, on.nsensor, on.ngeom)
    # the box, let go, falls through the table instead of resting on it
    for model, rests in ((on, True), (off, False)):
        data = mujoco.MjData(model)
        for _ in range(round(0.3 / model.opt.timestep)):
            mujoco.mj_step(model, data)
        assert (data.body("box").xpos[2] > 0.0) == rests


@pytest.mark.parametrize("name", sorted(HANDS))
def test_the_testers_camera_shows_a_box_lifted_to_success_and_the_hand_holding_it(name):
    """What a user watches for: the fixed camera keeps the box, at rest and lifted past BlindGrasping's
    0.2 m success height under a raised hand, and the hand holding it, in the frame."""
    import services.sim  # noqa: F401 (first: it picks MUJOCO_GL)
    from tests.sim.helpers import pixel, task_cfg

    env = services.sim.make_env(task_cfg("BlindGrasping", hand=name), 1, seed=0)
    env.reset()
    m, s = env.model, env.state
    z = m.jnt_qposadr[m.joint("ARTz").id]
    box_z = env.task.box_q + 2
    rest = env.task.box_pos()[0].clone()
    s.qpos[0, z] = m.jnt_range[m.joint("ARTz").id][1]  # the mount as high as it goes
    env.physics.forward(torch.tensor([0]))
    palm = env.state.site_xpos[0, m.site("palm_centre").id].numpy().copy()
    s.qpos[0, box_z] = palm[2] - 0.08  # in the hand, below the palm
    env.physics.forward(torch.tensor([0]))
    assert env.task.box_lift()[0] > 0.2  # past success height
    _, data = env.world(0)

    def frame(box_z_value=None):
        if box_z_value is not None:
            data.qpos[box_z] = box_z_value
            mujoco.mj_forward(m, data)
        return env.render(640, 480, camera="fixed").astype(int)

    lifted = frame()
    for point in (data.body("box").xpos, data.site("palm_centre").xpos, rest.numpy()):
        u, v = pixel(m, data, "fixed", point, 640, 480)
        assert 20 <= u < 620 and 20 <= v < 460, (point, u, v)  # inside, not at an edge
    hidden = frame(-1.0)  # the box under the table: what the box itself draws
    assert (np.abs(lifted - hidden).sum(axis=2) > 30).sum() > 300
    env.close()
