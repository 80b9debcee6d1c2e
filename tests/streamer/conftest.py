"""Fixtures for the streamer tests: a streamer on a free port and the tester stand-in (standin.py)."""

import pytest

from services.streamer import start_in_process
from tests.streamer.standin import ControlServer, StandInTester


@pytest.fixture
def streamer():
    """A streamer on a free port of 127.0.0.1 (no auth); yields (server, hub, url)."""
    server, hub = start_in_process(0, bind_all=False, token=None, announce=False)
    yield server, hub, server.url
    server.stop()


@pytest.fixture
def standin():
    """A stand-in tester with its HTTP control API; yields (tester, control_server)."""
    tester = StandInTester()
    ctl = ControlServer(tester)
    yield tester, ctl
    ctl.close()
