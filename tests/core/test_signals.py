"""SIGINT/SIGTERM as a stop request: the mechanism every service stops by (real signals to this process)."""

import os
import signal

import pytest

from services.core.signals import stop_on_signals


def test_sigterm_sets_the_flag_calls_on_stop_once_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    called = []
    with stop_on_signals(called.append) as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
        os.kill(os.getpid(), signal.SIGINT)  # a second signal without abort_on_second changes nothing
        assert stop.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before
    assert called == ["SIGTERM"]


def test_a_second_signal_aborts_when_asked():
    with stop_on_signals(abort_on_second=True) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(5) and stop.signal_name == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            stop.wait(1)  # the handler runs here at the latest
