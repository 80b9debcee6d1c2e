"""The ADROIT hand (24 actuated DoF, as in DAPG's relocate) in our hand scene, built with MjSpec.

The scene is procedural.py's (table, box, target, cameras, light, six position-controlled base DoF
`ARTx..ARRz` about the palm centre); its procedural palm and fingers are swapped for ADROIT's
forearm, wrist and hand, loaded from the installed gymnasium-robotics package (Apache-2.0, meshes
included), never copied here. ADROIT's own elements keep their names under the prefix `adroit/`
(`adroit/FFJ3`, `adroit/A_FFJ3`, ...); what the tasks look up is ours and unprefixed: the sites
`<f>_tip`, `<f>_pad`, `palm_centre` and the sensors `<f>_tip_touch`, `<f>_pad_touch`, `<f>_box`,
`hand_table`.

ADROIT's joints: J3 spread, J2 MCP, J1 PIP, J0 DIP for ff mf rf; the little finger adds a
metacarpal J4; thumb J4 rotation, J3 abduction, J2 hub, J1 and J0 flexion. Its hand actuators are
position servos with kp = 1 (wrist 10) and no velocity gain, as ADROIT ships them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from services.sim.hands import procedural
from services.sim.hands.procedural import BASE_JOINTS, BOX_HALF, FINGERS  # noqa: F401 (BOX_HALF: the hand contract)
from services.sim.hands.scene import MOUNT, compensate_gravity, compile_scene

PREFIX = "adroit/"
# found without importing gymnasium_robotics, which would register all of its gymnasium envs
_PACKAGE = Path(importlib.util.find_spec("gymnasium_robotics").submodule_search_locations[0])
ASSETS = _PACKAGE / "envs" / "assets" / "adroit_hand"
PALM_CENTRE = (0.011, -0.0111, 0.038)  # centre of the palm's surface (face -y of C_palm0) in ADROIT's palm frame
PITCH = 0.3  # fingers tilted down by this much at the default pose, so the tips start below the palm
# each finger's first body: its contact sensor counts that subtree (the little finger's metacarpal is palm)
_FIRST_BODY = {"th": "thbase", "ff": "ffknuckle", "mf": "mfknuckle", "rf": "rfknuckle", "lf": "lfknuckle"}
# A fixed tendon with range +-0.001 (T_FFJ1c: 0.00705 FFJ0 - 0.00805 FFJ1) keeps DIP = 0.00805 / 0.00705 PIP
COUPLINGS = [(f"{PREFIX}{f}J0", f"{PREFIX}{f}J1", 0.00805 / 0.00705) for f in ("FF", "MF", "RF", "LF")]


def actuated_joints() -> list[str]:
    """Actuator order = joint names: 6 base DoF, then ADROIT's 24 (wrist, ff, mf, rf, lf, thumb)."""
    hand_joints = ["WRJ1", "WRJ0"] + [f"{f}J{i}" for f in ("FF", "MF", "RF") for i in (3, 2, 1, 0)]
    hand_joints += [f"LFJ{i}" for i in (4, 3, 2, 1, 0)] + [f"THJ{i}" for i in (4, 3, 2, 1, 0)]
    return list(BASE_JOINTS) + [PREFIX + j for j in hand_joints]


def _adroit_hand():
    """ADROIT's forearm body (with the hand) from DAPG's relocate model, without its arm mount and sensors."""
    import mujoco

    adroit = mujoco.MjSpec.from_file(str(ASSETS / "adroit_relocate.xml"))
    # relocate mounts the forearm on ARTx..ARRz at the elbow; ours sit at the palm centre
    for el in [
        *(adroit.joint(j) for j in BASE_JOINTS),
        *(a for a in adroit.actuators if a.target in BASE_JOINTS),
        *adroit.sensors,
    ]:
        adroit.delete(el)
    # ADROIT's solver options and sizes (20 noslip iterations, njmax, user fields) give way to ours;
    # reset here, attach keeps quiet instead of warning (and writing MUJOCO_LOG.TXT) about the conflict
    adroit.option.iterations, adroit.option.noslip_iterations = 100, 0
    adroit.njmax = adroit.nconmax = -1
    for kind in ("body", "jnt", "site", "tendon", "actuator", "sensor"):
        setattr(adroit, f"nuser_{kind}", -1)
    # textures and materials of the relocate props we leave out
    for el in [*adroit.textures, *(m for m in adroit.materials if m.name not in ("MatColl", "MatViz"))]:
        adroit.delete(el)
    return adroit


def _forearm_pose(adroit) -> tuple[np.ndarray, np.ndarray]:
    """Forearm pos, quat in the mount frame: palm centre at the origin, palm down, fingers +x pitched down."""
    import mujoco

    # wrist and palm sit straight along the forearm's z: the palm centre in forearm coordinates
    centre = adroit.body("wrist").pos + adroit.body("palm").pos + np.array(PALM_CENTRE)
    # palm x -> world y, palm y (back of the hand) -> world z, palm z (fingers) -> world x; then the pitch
    quat = np.zeros(4)
    mujoco.mju_mulQuat(quat, np.array([np.cos(PITCH / 2), 0.0, np.sin(PITCH / 2), 0.0]), np.full(4, 0.5))
    pos = np.zeros(3)
    mujoco.mju_rotVecQuat(pos, centre, quat)
    return -pos, quat


def build_spec(
    with_box: bool = True, offscreen: tuple[int, int] = (1280, 960), timestep: float = 0.002, with_target: bool = False
):
    """The whole scene as an MjSpec (uncompiled)."""
    import mujoco

    spec = mujoco.MjSpec.from_string(procedural.build_mjcf(with_box, offscreen, timestep, with_target))
    spec.modelname = "policycast_adroit"
    mount = spec.body(MOUNT)
    # keep procedural.py's scene and its hand's base DoF (joints, actuators, track camera, hand_table sensor);
    # drop its palm and fingers, which also drops the actuators, couplings and sensors that refer to them
    for el in [*mount.bodies, *mount.geoms, *mount.sites, spec.find_default("finger"), spec.find_default("hand")]:
        spec.delete(el)

    adroit = _adroit_hand()
    forearm = adroit.body("forearm")
    forearm.pos, forearm.quat = _forearm_pose(adroit)
    forearm.alt.type = mujoco.mjtOrientation.mjORIENTATION_QUAT  # relocate gives it as euler, which would win
    mount.add_frame().attach_body(forearm, PREFIX, "")
    spec.meshdir = str(ASSETS / "resources" / "meshes")  # so that spec.to_xml() loads from anywhere
    spec.camera("fixed").fovy = 60  # procedural.py's view, widened: ADROIT's forearm reaches 0.5 m back

    body = lambda name: spec.body(PREFIX + name)
    body("palm").add_site(name="palm_centre", pos=PALM_CENTRE, size=[0.005, 0, 0], rgba=[0, 0, 0, 0])
    box_site, sphere = mujoco.mjtGeom.mjGEOM_BOX, mujoco.mjtGeom.mjGEOM_SPHERE
    for f in FINGERS:
        # our tip and pad sites where ADROIT has its tip marker and middle-phalanx touch pad
        tip, pad = spec.site(f"{PREFIX}S_{f}tip"), spec.site(f"{PREFIX}Tch_{f}middle")
        body(f"{f}distal").add_site(name=f"{f}_tip", type=sphere, pos=tip.pos, size=[0.01, 0, 0], rgba=[0, 0, 0, 0])
        body(f"{f}middle").add_site(name=f"{f}_pad", type=box_site, pos=pad.pos, size=pad.size, rgba=[0, 0, 0, 0])

    touch, contact = mujoco.mjtSensor.mjSENS_TOUCH, mujoco.mjtSensor.mjSENS_CONTACT
    site, xbody = mujoco.mjtObj.mjOBJ_SITE, mujoco.mjtObj.mjOBJ_XBODY
    for part in ("tip", "pad"):
        for f in FINGERS:
            spec.add_sensor(name=f"{f}_{part}_touch", type=touch, objtype=site, objname=f"{f}_{part}")
    found_mindist = [1, 1, 1]  # contact sensor intprm: data="found", reduce="mindist", num=1
    if with_box:
        for f in FINGERS:
            spec.add_sensor(
                name=f"{f}_box",
                type=contact,
                objtype=xbody,
                objname=PREFIX + _FIRST_BODY[f],
                reftype=mujoco.mjtObj.mjOBJ_BODY,
                refname="box",
                intprm=found_mindist,
            )
    compensate_gravity(spec)
    return spec


def build_model(with_box=True, offscreen=(1280, 960), timestep=0.002, contacts=True, with_target=False):
    """The compiled scene; `contacts=False` switches collision off (scene.compile_scene)."""
    return compile_scene(build_spec(with_box, offscreen, timestep, with_target), contacts)


if __name__ == "__main__":  # print the MJCF, e.g. to open it in `python -m mujoco.viewer`
    print(build_spec().to_xml())
