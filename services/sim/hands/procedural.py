"""The dexterous hand scene, written as MJCF by this module (no meshes or asset files).

A floating hand above a table, palm facing down: six position-controlled base DoF named like the
seed's (ARTx ARTy ARTz slides, ARRx ARRy ARRz hinges about the palm centre), four fingers pointing
+x from the palm's front edge and a thumb at its back edge that rotates about its own axis and
flexes towards the fingers, so the hand closes like a claw around an object below the palm.
Finger DoF: spread (index, ring, little), MCP and PIP flexion (four fingers), thumb rotation, MCP
and IP flexion = 14 actuated; every distal joint follows its PIP/IP joint through an equality
constraint. Each finger has a fingertip and a fingerpad touch sensor. A 5 cm, 100 g box (optional)
rests on the table, whose top is the plane z = 0.

Geoms collide hand <-> world and box <-> table, never hand <-> hand (contype/conaffinity bits).
Contact sensors report per-finger box contact and hand-table contact as sensordata, so tasks read
them for all worlds at once instead of looping over each world's contact list.
"""

from __future__ import annotations

import numpy as np

from services.sim.hands.scene import compensate_gravity, compile_scene

PALM_HEIGHT = 0.25  # palm centre above the table when ARTz = 0
# What testers draw: the table's corner, the box at rest, and a box lifted past BlindGrasping's 0.2 m
# with the hand holding it (at 0.4 m away, aimed at 0.12 m, a lifted box left the frame at the top).
FIXED_CAMERA, FIXED_TARGET = (0.55, -0.55, 0.5), (0.0, 0.0, 0.2)
PALM_HALF = (0.045, 0.04, 0.01)
BOX_HALF = 0.025
BOX_MASS = 0.1
BASE_JOINTS = ("ARTx", "ARTy", "ARTz", "ARRx", "ARRy", "ARRz")
BASE_RANGES = {
    "ARTx": (-0.2, 0.2),
    "ARTy": (-0.2, 0.2),
    "ARTz": (-0.23, 0.2),
    "ARRx": (-0.8, 0.8),
    "ARRy": (-0.8, 0.8),
    "ARRz": (-1.57, 1.57),
}
FINGERS = ("th", "ff", "mf", "rf", "lf")  # thumb, fore, middle, ring, little
# finger: (y offset on the palm's front edge, spread range or None, phalanx lengths)
_LONG = {
    "ff": (-0.027, (-0.3, 0.3), (0.040, 0.028, 0.022)),
    "mf": (-0.009, None, (0.044, 0.030, 0.022)),
    "rf": (0.009, (-0.3, 0.3), (0.042, 0.028, 0.022)),
    "lf": (0.027, (-0.3, 0.3), (0.034, 0.024, 0.020)),
}
_THUMB = (0.040, 0.030, 0.024)
FLEX = (-0.2, 1.6)  # MCP
PIP = (0.0, 1.7)
DIP = (0.0, 1.4)
DIP_RATIO = 0.8  # distal = 0.8 * PIP (the coupling)
# (follower joint, leader joint, ratio): equality-coupled joints a reset must start consistent
COUPLINGS = tuple((f"{f}_dip", f"{f}_pip", DIP_RATIO) for f in FINGERS)

_COLORS = {
    "palm": "0.85 0.72 0.62 1",
    "phalanx": "0.80 0.66 0.56 1",
    "tip": "0.90 0.45 0.40 1",
    "table": "0.55 0.40 0.28 1",
    "box": "0.95 0.55 0.10 1",
    "thumb": "0.78 0.62 0.52 1",
}
# hand geoms: contype 2 / conaffinity 1; world geoms: contype 1 / conaffinity 3
_HAND_COL = 'contype="2" conaffinity="1"'
_WORLD_COL = 'contype="1" conaffinity="3"'


def _v(*xs) -> str:
    return " ".join(f"{x:.6g}" for x in xs)


def _look_at(pos, target, up=(0.0, 0.0, 1.0)) -> str:
    """xyaxes of a camera at pos looking at target (MuJoCo cameras look down their -z)."""
    pos, target, up = map(np.asarray, (pos, target, up))
    f = (target - pos) / np.linalg.norm(target - pos)
    x = np.cross(f, up)
    x /= np.linalg.norm(x)
    y = np.cross(x, f)
    return _v(*x, *y)


def _finger(name: str, pos, lengths, spread, thumb: bool) -> str:
    """One finger as nested bodies; flexion bends the tip towards -z (the palm's side)."""
    l1, l2, l3 = lengths
    sign = -1 if thumb else 1  # thumb points -x and flexes about -y
    axis_flex = _v(0, sign, 0)
    col = _COLORS["thumb" if thumb else "phalanx"]
    r = 0.0085
    joints0 = ""
    if thumb:
        joints0 += f'<joint name="{name}_rot" type="hinge" axis="{_v(-1, 0, 0)}" range="-0.8 0.8" class="finger"/>'
    if spread is not None:
        joints0 += f'<joint name="{name}_spread" type="hinge" axis="0 0 1" range="{_v(*spread)}" class="finger"/>'
    seg = lambda L: f'fromto="0 0 0 {sign * L:.6g} 0 0"'
    return f"""
      <body name="{name}_proximal" pos="{_v(*pos)}">
        {joints0}
        <joint name="{name}_mcp" type="hinge" axis="{axis_flex}" range="{_v(*FLEX)}" class="finger"/>
        <geom name="{name}_proximal" type="capsule" size="{r}" {seg(l1)} rgba="{col}" class="hand"/>
        <body name="{name}_middle" pos="{_v(sign * l1, 0, 0)}">
          <joint name="{name}_pip" type="hinge" axis="{axis_flex}" range="{_v(*PIP)}" class="finger"/>
          <geom name="{name}_middle" type="capsule" size="{r}" {seg(l2)} rgba="{col}" class="hand"/>
          <site name="{name}_pad" type="box" size="{_v(l2 / 2, 0.0095, 0.006)}" pos="{_v(sign * l2 / 2, 0, -0.005)}" rgba="0 0 0 0"/>
          <body name="{name}_distal" pos="{_v(sign * l2, 0, 0)}">
            <joint name="{name}_dip" type="hinge" axis="{axis_flex}" range="{_v(*DIP)}" class="finger"/>
            <geom name="{name}_distal" type="capsule" size="{r * 0.95:.6g}" {seg(l3)} rgba="{_COLORS["tip"]}" class="hand" friction="1.5 0.01 0.001"/>
            <site name="{name}_tip" type="sphere" size="0.012" pos="{_v(sign * l3, 0, 0)}" rgba="0 0 0 0"/>
          </body>
        </body>
      </body>"""


def build_mjcf(
    with_box: bool = True, offscreen: tuple[int, int] = (1280, 960), timestep: float = 0.005, with_target: bool = False
) -> str:
    """The whole scene as an MJCF string."""
    ph = PALM_HALF
    fingers = [_finger("th", (-ph[0] - 0.004, -0.01, 0.0), _THUMB, None, thumb=True)]
    fingers += [_finger(n, (ph[0] + 0.004, y, 0.0), L, s, thumb=False) for n, (y, s, L) in _LONG.items()]
    base_joints = "\n".join(
        f'<joint name="{j}" type="{"slide" if j.startswith("ART") else "hinge"}" '
        f'axis="{_v(*np.eye(3)[i % 3])}" range="{_v(*BASE_RANGES[j])}" class="base"/>'
        for i, j in enumerate(BASE_JOINTS)
    )
    finger_joints = [j for j in actuated_joints() if j not in BASE_JOINTS]
    actuators = "\n".join(
        [
            f'<position name="{j}" joint="{j}" ctrlrange="{_v(*BASE_RANGES[j])}" '
            f'kp="{600 if j.startswith("ART") else 60}" kv="{60 if j.startswith("ART") else 4}"/>'
            for j in BASE_JOINTS
        ]
        + [f'<position name="{j}" joint="{j}" class="finger"/>' for j in finger_joints]
    )
    equalities = "\n".join(
        f'<joint joint1="{f}_dip" joint2="{f}_pip" polycoef="0 {DIP_RATIO} 0 0 0"/>' for f in FINGERS
    )
    sensors = "\n".join(
        [f'<touch name="{f}_tip_touch" site="{f}_tip"/>' for f in FINGERS]
        + [f'<touch name="{f}_pad_touch" site="{f}_pad"/>' for f in FINGERS]
        + (
            [
                f'<contact name="{f}_box" subtree1="{f}_proximal" body2="box" data="found" reduce="mindist"/>'
                for f in FINGERS
            ]
            if with_box
            else []
        )
        + ['<contact name="hand_table" subtree1="hand" geom2="table" data="found" reduce="mindist"/>']
    )
    box = (
        f"""
    <body name="box" pos="0 0 {BOX_HALF}">
      <freejoint name="box"/>
      <geom name="box" type="box" size="{_v(BOX_HALF, BOX_HALF, BOX_HALF)}" mass="{BOX_MASS}"
            rgba="{_COLORS["box"]}" {_WORLD_COL} friction="1.0 0.01 0.001"/>
    </body>"""
        if with_box
        else ""
    )
    # a mocap marker moved by the task (Reach's target): drawn, never collides, costs no physics
    box += (
        """
    <body name="target" mocap="true" pos="0 0 0.3">
      <geom name="target" type="sphere" size="0.015" rgba="0.2 0.85 0.3 0.7" contype="0" conaffinity="0"/>
    </body>"""
        if with_target
        else ""
    )
    w, h = offscreen
    return f"""
<mujoco model="policycast_hand">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep}" integrator="implicitfast" cone="elliptic" impratio="5"/>
  <visual>
    <global offwidth="{w}" offheight="{h}"/>
    <quality shadowsize="0"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.6 0.6 0.6"/>
  </visual>
  <asset>
    <texture name="floor" type="2d" builtin="checker" rgb1="0.30 0.33 0.38" rgb2="0.25 0.28 0.32" width="256" height="256"/>
    <material name="floor" texture="floor" texrepeat="8 8"/>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="0.55 0.65 0.80" rgb2="0.15 0.18 0.25" width="64" height="64"/>
  </asset>
  <default>
    <default class="base">
      <joint damping="20" armature="0.05"/>
    </default>
    <default class="finger">
      <joint damping="0.05" armature="0.002"/>
      <position kp="2" kv="0.05" ctrlrange="-3 3"/>
    </default>
    <default class="hand">
      <geom {_HAND_COL} density="800" condim="4"/>
    </default>
  </default>
  <worldbody>
    <light name="key" pos="0.4 -0.4 1.2" dir="-0.3 0.3 -1" directional="true" castshadow="false"/>
    <geom name="floor" type="plane" size="2 2 0.05" pos="0 0 -0.75" material="floor" {_WORLD_COL}/>
    <geom name="table" type="box" size="0.3 0.3 0.375" pos="0 0 -0.375" rgba="{_COLORS["table"]}" {_WORLD_COL}/>
    <camera name="fixed" pos="{_v(*FIXED_CAMERA)}" xyaxes="{_look_at(FIXED_CAMERA, FIXED_TARGET)}"/>
    <body name="hand" pos="0 0 {PALM_HEIGHT}" gravcomp="1">
      {base_joints}
      <camera name="track" mode="trackcom" pos="0.35 -0.35 0.15" xyaxes="{_look_at((0.35, -0.35, 0.15), (0, 0, -0.08))}"/>
      <geom name="palm" type="box" size="{_v(*ph)}" rgba="{_COLORS["palm"]}" class="hand"/>
      <site name="palm_centre" pos="0 0 {-ph[2]:.6g}" size="0.005" rgba="0 0 0 0"/>
      {"".join(fingers)}
    </body>
    {box}
  </worldbody>
  <equality>
    {equalities}
  </equality>
  <actuator>
    {actuators}
  </actuator>
  <sensor>
    {sensors}
  </sensor>
</mujoco>
"""


def actuated_joints() -> list[str]:
    """Actuator order = joint names: 6 base DoF, then the fingers' actuated joints."""
    names = list(BASE_JOINTS) + ["th_rot", "th_mcp", "th_pip"]
    for f, (_, spread, _) in _LONG.items():
        names += ([f"{f}_spread"] if spread is not None else []) + [f"{f}_mcp", f"{f}_pip"]
    return names


def build_spec(
    with_box: bool = True, offscreen: tuple[int, int] = (1280, 960), timestep: float = 0.005, with_target: bool = False
):
    """The whole scene as an MjSpec (uncompiled), every hand body gravity-compensated."""
    import mujoco

    spec = mujoco.MjSpec.from_string(build_mjcf(with_box, offscreen, timestep, with_target))
    compensate_gravity(spec)
    return spec


def build_model(with_box=True, offscreen=(1280, 960), timestep=0.005, contacts=True, with_target=False):
    """The compiled scene; `contacts=False` switches collision off (scene.compile_scene)."""
    return compile_scene(build_spec(with_box, offscreen, timestep, with_target), contacts)


if __name__ == "__main__":  # print the MJCF, e.g. to open it in `python -m mujoco.viewer`
    print(build_mjcf())
