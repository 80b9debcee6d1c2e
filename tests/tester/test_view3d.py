"""The tester's 3D view (MuJoCo's web viewer): where it listens, a busy port, watch-only, state on demand.

MuJoCo's web viewer runs once per process (view3d.py): each test runs its viewer in a fresh process.
"""

import logging
import socket
import threading

import numpy as np
import requests

from services.core.cli import command
from services.sim import make_env
from services.tester import build
from tests.processes import run
from tests.spawned import in_child
from tests.tester.helpers import config_for, wait_for
from tests.view3d_client import WireViewer


def listening(port: int) -> set[str]:
    """The local addresses a TCP socket listens on at `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table) as f:
            next(f)
            for line in f:
                local, state = line.split()[1], line.split()[3]
                addr, _, hexport = local.partition(":")
                if state == "0A" and int(hexport, 16) == port:
                    if width == 8:
                        found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
                    else:
                        found.add("::" if int(addr, 16) == 0 else addr)
    return found


def test_3d_view_listens_on_loopback_by_default(runs_dir, new_run, reach_checkpoints):
    """`test.view3d.enabled=true` and nothing else: 127.0.0.1 only, and the status says where."""
    new_run(reach_checkpoints[0])
    in_child(_listens_on_loopback, runs_dir)


def _listens_on_loopback(runs_dir):
    service = build(config_for(runs_dir, "test.view3d.enabled=true", "numEnvs=1"))
    try:
        status = service.tester.status()
        port = status["view3d_port"]
        assert status["view3d_url"] == f"http://127.0.0.1:{port}/" and status["view3d_error"] is None
        assert listening(port) == {"127.0.0.1"}  # at once: the status names the URL only once it listens
        page = requests.get(status["view3d_url"], timeout=10)
        assert page.status_code == 200 and "MuJoCo" in page.text
        # the viewer's page wants cross-origin isolation: an origin of its own (hence its own tab)
        assert "same-origin" in page.headers["Cross-Origin-Opener-Policy"]
    finally:
        service.close()


def test_binding_all_interfaces_is_its_own_opt_in_and_warns():
    in_child(_binds_all_with_a_warning)


def _binds_all_with_a_warning():
    from services.tester.view3d import View3D

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("tester.view3d").addHandler(handler)
    env = make_env(config_for("runs").task, num_envs=1)
    view = View3D(*env.world(0), bind_all=True)
    try:
        assert listening(view.port) == {"0.0.0.0"}
        assert any(
            r.levelno == logging.WARNING
            and "ALL interfaces" in r.getMessage()
            and "no authentication" in r.getMessage()
            for r in records
        )
    finally:
        view.close()
        env.close()


def test_a_busy_port_stops_the_tester_with_one_line(runs_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run(
            command("tester", "test.view3d.enabled=true", f"test.view3d.port={port}", runsDir=runs_dir, numEnvs=1),
            timeout=300,
        )
    assert done.returncode == 2, done.stderr[-2000:]
    assert (
        done.stderr.strip().splitlines()[-1]
        == f"error: test.view3d.port={port}: port {port} on 127.0.0.1 is already in use"
    )


def test_a_viewer_cannot_change_the_world_it_shows(tmp_path):
    """What a browser could send (reset, perturbation, a new state, a dropped model, physics options)
    changes neither the tester's worlds nor the copy the view shows: episodes are never perturbed."""
    in_child(_watch_only, tmp_path)


def _watch_only(tmp_path):
    import mujoco
    import torch
    from mujoco.studio import messages

    from services.tester.view3d import View3D

    cfg = config_for("runs")
    env = make_env(cfg.task, num_envs=2)
    view = None
    try:
        env.reset()
        for _ in range(5):
            env.step(torch.full((2, env.num_actions), 0.7))
        model, data = env.world(0)
        view = View3D(model, data)
        worlds, shown = env.state.qpos.clone(), data.qpos.copy()
        timestep = model.opt.timestep
        other = tmp_path / "other.xml"
        other.write_text("<mujoco><worldbody><geom type='sphere' size='.1'/></worldbody></mujoco>")
        qpos, xfrc = int(mujoco.mjtState.mjSTATE_QPOS), int(mujoco.mjtState.mjSTATE_XFRC_APPLIED)
        for event in (
            messages.ResetEvent(),
            messages.StateEvent(state=np.zeros(model.nq), state_sig=qpos),
            messages.PerturbSnapshot(state=np.ones(6 * model.nbody), state_sig=xfrc),
            messages.LoadModelEvent(path=str(other)),
            messages.MjOptionSnapshot(opt=_with_timestep(model.opt, 0.5)),
        ):
            view.viewer.send_to_sim(event)
        view.handle.sync(model, data)  # what publish() does: the viewer's messages are handled here
        assert torch.equal(env.state.qpos, worlds)
        assert np.array_equal(data.qpos, shown) and not data.xfrc_applied.any()
        assert view.handle.model is model and model.opt.timestep == timestep
    finally:
        if view:
            view.close()
        env.close()


def _with_timestep(opt, timestep):
    import copy

    opt = copy.deepcopy(opt)
    opt.timestep = timestep
    return opt


def test_state_goes_out_only_while_a_page_is_open(runs_dir, new_run, reach_checkpoints):
    """No page: nothing is sent. A page (on the wire) opens: the world streams, with the tester's
    overlay; it closes: the tester stops sending again, and plays on."""
    new_run(reach_checkpoints[-1])
    in_child(_state_on_demand, runs_dir)


def _state_on_demand(runs_dir):
    service = build(config_for(runs_dir, "test.view3d.enabled=true", "numEnvs=1"))
    tester, stop = service.tester, threading.Event()
    sent = []
    real_sync = tester.broadcast.view3d.handle.sync
    tester.broadcast.view3d.handle.sync = lambda *a: sent.append(1) or real_sync(*a)
    loop = threading.Thread(target=tester.play, args=(0, stop), daemon=True)
    loop.start()
    try:
        wait_for(lambda: tester.episodes >= 1, timeout=60, what="episodes played")
        assert not tester.broadcast.view3d.watched and sent == [] and tester.broadcast.view3d.overlay.lines == ()
        assert tester.status()["view3d_viewers"] == 0  # what /metrics exports as policycast_tester_view3d_viewers
        with WireViewer(tester.broadcast.view3d.url) as page:
            wait_for(lambda: page.payloads >= 30, timeout=60, what="state payloads on the page")
            assert tester.broadcast.view3d.watched and len(sent) > 0
            assert tester.status()["view3d_viewers"] == 1
            assert tester.broadcast.view3d.overlay.lines[0].startswith("Reach  Reach_train_")
            assert any(line.startswith("epoch ") for line in tester.broadcast.view3d.overlay.lines)
        wait_for(lambda: not tester.broadcast.view3d.watched, timeout=10, what="the view unwatched")
        quiet = len(sent)
        episodes = tester.episodes
        wait_for(lambda: tester.episodes >= episodes + 2, timeout=60, what="the tester stepping on")
        assert len(sent) <= quiet + 1  # at most the step that was under way
    finally:
        stop.set()
        loop.join(30)
        service.close()
