"""The ADROIT hand in our scene (services.sim.hands.adroit): the names tasks look up, a steady default pose,
a scripted grasp that lifts the box, and a frame that shows the hand."""

from pathlib import Path

import cv2
import mujoco
import numpy as np
import pytest

from services.sim.hands import adroit, procedural
from services.sim.hands.procedural import BASE_JOINTS, BOX_HALF, FINGERS
from tests.sim.helpers import pixel

ROOT = Path(__file__).resolve().parents[2]
Obj = mujoco.mjtObj


@pytest.fixture(scope="module")
def model():
    return adroit.build_model(offscreen=(640, 480))


def test_every_name_the_tasks_look_up_is_there():
    m = adroit.build_model(with_target=True, offscreen=(800, 600))
    joints = adroit.actuated_joints()
    assert m.nu == len(joints) == 30 and joints[:6] == list(BASE_JOINTS)
    assert [m.joint(m.actuator_trnid[a, 0]).name for a in range(m.nu)] == joints
    # position servos: force = kp * (ctrl - q)
    assert np.all(m.actuator_biastype == mujoco.mjtBias.mjBIAS_AFFINE)
    assert np.allclose(m.actuator_gainprm[:, 0], -m.actuator_biasprm[:, 1])
    for f in FINGERS:
        assert m.site_type[m.site(f"{f}_tip").id] == mujoco.mjtGeom.mjGEOM_SPHERE
        assert m.site_type[m.site(f"{f}_pad").id] == mujoco.mjtGeom.mjGEOM_BOX
        for name in (f"{f}_tip_touch", f"{f}_pad_touch", f"{f}_box"):
            m.sensor(name)
    m.site("palm_centre")
    table = m.geom("table")
    assert table.pos[2] + table.size[2] == pytest.approx(0.0)
    assert np.allclose(table.size, procedural.build_model().geom("table").size)
    assert m.jnt_type[m.joint("box").id] == mujoco.mjtJoint.mjJNT_FREE
    target = m.body("target")
    assert target.mocapid[0] >= 0 and m.geom("target").contype == m.geom("target").conaffinity == 0
    assert m.cam_mode[m.camera("track").id] == mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM
    assert m.cam_bodyid[m.camera("fixed").id] == 0
    assert (m.vis.global_.offwidth, m.vis.global_.offheight, m.vis.quality.shadowsize) == (800, 600, 0)
    # without the box there is no box sensor; contacts=False switches collision off
    bare = adroit.build_model(with_box=False, contacts=False)
    assert mujoco.mj_name2id(bare, Obj.mjOBJ_SENSOR, "ff_box") == -1
    assert bare.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_CONTACT


def test_couplings_are_adroits_distal_tendons(model):
    """Each follower = ratio * leader puts ADROIT's coupling tendon mid-range: a reset can start there."""
    assert len(adroit.COUPLINGS) == 4
    data = mujoco.MjData(model)
    for follower, leader, ratio in adroit.COUPLINGS:
        data.qpos[model.joint(leader).qposadr] = 1.0
        data.qpos[model.joint(follower).qposadr] = ratio * 1.0
    mujoco.mj_forward(model, data)
    for follower, leader, _ in adroit.COUPLINGS:
        pair = {model.joint(follower).id, model.joint(leader).id}
        on_pair = [
            t
            for t in range(model.ntendon)
            if set(model.wrap_objid[model.tendon_adr[t] : model.tendon_adr[t] + model.tendon_num[t]]) == pair
        ]
        coupling = min(on_pair, key=lambda t: np.ptp(model.tendon_range[t]))  # the tight one: +-1 mm
        assert data.ten_length[coupling] == pytest.approx(np.mean(model.tendon_range[coupling]), abs=1e-9)


def test_default_pose_is_palm_down_over_the_box_and_holds_still(model):
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    palm = data.site("palm_centre").xpos.copy()
    tips = np.array([data.site(f"{f}_tip").xpos for f in FINGERS])
    box = data.body("box").xpos
    assert palm == pytest.approx([0.0, 0.0, 0.25], abs=1e-3) and palm[:2] == pytest.approx(box[:2], abs=1e-3)
    palm_normal = -data.body("adroit/palm").xmat.reshape(3, 3)[:, 1]  # ADROIT's palm faces its -y
    assert palm_normal[2] < -0.9
    assert np.all(tips[:, 2] < palm[2] - 0.01) and np.all(tips[1:, 0] > palm[0] + 0.1)

    data.ctrl[:] = 0.0  # the default pose's targets
    for _ in range(round(2.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
    assert np.isfinite(data.qpos).all()
    assert np.linalg.norm(data.site("palm_centre").xpos - palm) < 0.01
    assert np.linalg.norm(np.array([data.site(f"{f}_tip").xpos for f in FINGERS]) - tips, axis=1).max() < 0.01


def test_base_slides_along_world_axes_and_turns_about_the_palm_centre(model):
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    palm = data.site("palm_centre").xpos.copy()
    for axis, joint in enumerate(BASE_JOINTS):
        data.qpos[:] = model.qpos0
        data.qpos[model.joint(joint).qposadr] = 0.1
        mujoco.mj_kinematics(model, data)
        moved = palm + 0.1 * np.eye(3)[axis] if joint.startswith("ART") else palm
        assert data.site("palm_centre").xpos == pytest.approx(moved, abs=1e-9), joint


def _move(model, data, ctrl, seconds):
    """Ramp the actuator targets to `ctrl` over 80% of `seconds`, then hold; like a delta-action policy."""
    start, steps = data.ctrl.copy(), round(seconds / model.opt.timestep)
    for k in range(steps):
        data.ctrl[:] = start + (ctrl - start) * min(1.0, (k + 1) / (0.8 * steps))
        mujoco.mj_step(model, data)


def test_scripted_grasp_lifts_the_box(model):
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    act = {name.removeprefix(adroit.PREFIX): a for a, name in enumerate(adroit.actuated_joints())}
    ctrl = np.zeros(model.nu)
    ctrl[act["ARTx"]] = -0.045  # the box under the fingers, 4.5 cm ahead of the palm centre
    _move(model, data, ctrl, 0.5)
    ctrl[act["ARTz"]] = -0.15  # palm centre 10 cm above the table
    _move(model, data, ctrl, 0.8)
    for joint, q in {"THJ4": 0.0, "THJ3": 1.3, "THJ0": -0.8}.items():  # thumb under the palm, opposing
        ctrl[act[joint]] = q
    _move(model, data, ctrl, 0.4)
    for f in ("FF", "MF", "RF", "LF"):
        for j, q in zip((2, 1, 0), (1.2, 0.8, 0.8)):  # MCP, PIP, DIP
            ctrl[act[f"{f}J{j}"]] = q
    _move(model, data, ctrl, 0.8)
    ctrl[act["ARTz"]] += 0.15
    _move(model, data, ctrl, 1.5)

    lift = data.body("box").xpos[2] - BOX_HALF
    touching = [f for f in FINGERS if data.sensor(f"{f}_box").data[0] > 0]
    assert lift >= 0.05 and len(touching) >= 2, (lift, touching)
    assert data.sensor("hand_table").data[0] == 0


def test_fixed_camera_shows_the_hand_over_the_box(model):
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    hidden = mujoco.MjvOption()
    hidden.geomgroup[1] = False  # ADROIT's visual meshes: the scene without the hand
    with mujoco.Renderer(model, height=480, width=640) as renderer:
        renderer.update_scene(data, camera="fixed")
        frame = renderer.render()
        renderer.update_scene(data, camera="fixed", scene_option=hidden)
        empty = renderer.render()
    changed = np.abs(frame.astype(int) - empty.astype(int)).sum(axis=2) > 30
    for site in ["palm_centre", *(f"{f}_tip" for f in FINGERS[1:])]:
        u, v = pixel(model, data, "fixed", data.site(site).xpos, 640, 480)
        assert changed[v - 2 : v + 3, u - 2 : u + 3].any(), site
    assert 0.02 < changed.mean() < 0.5
    u, v = pixel(model, data, "fixed", data.body("box").xpos, 640, 480)
    assert not changed[v, u]  # the box below stays in view
    ok, png = cv2.imencode(".png", frame[:, :, ::-1])
    assert ok and len(png) < 200_000
    assert (ROOT / "docs" / "img" / "adroit.png").stat().st_size < 200_000


def test_printed_mjcf_loads_anywhere():
    xml = adroit.build_spec(with_target=True).to_xml()
    m = mujoco.MjModel.from_xml_string(xml)
    assert (m.nu, m.nsensor, m.nmesh) == (30, 16, adroit.build_model().nmesh)


def test_blind_grasping_runs_and_renders_with_the_adroit_hand():
    import torch

    from services.sim import make_env
    from tests.sim.helpers import task_cfg

    env = make_env(task_cfg("BlindGrasping", hand="adroit"), 2, seed=1)
    assert (env.num_actions, env.num_obs) == (30, 4 * 30 + 14)  # ADROIT's 30 actuators drive the layout
    obs = env.reset()
    before = env.render(320, 240)
    for _ in range(10):
        obs, reward, done, info = env.step(torch.full((2, 30), 0.5))
    assert torch.isfinite(obs).all() and torch.isfinite(reward).all() and env.states().shape == (2, env.num_states)
    assert np.abs(env.render(320, 240).astype(int) - before.astype(int)).mean() > 1.0  # the hand moved on screen
    env.close()
