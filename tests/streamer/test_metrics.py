"""The streamer's /metrics, per tester, from the statuses testers push: names, labels, types and values an
operator's Prometheus reads (parsed with prometheus_client's own parser), and the README listing each."""

import re
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.streamer import Hub
from services.streamer.metrics import make_registry, render

ROOT = Path(__file__).resolve().parents[2]
NOW = time.time()  # reset by the fixture below: the statuses are made "now", whenever the test runs


@pytest.fixture(autouse=True)
def now():
    global NOW
    NOW = time.time()


def status(tester_id, **over):
    """A status as a tester pushes it (services/tester/tester.py), playing epoch 9 of a Reach run."""
    base = {
        "id": tester_id,
        "task": "Reach",
        "experiment": "Reach_train_1",
        "epoch": 9,
        "checkpoint_env_steps": 18432,
        "reloads": 4,
        "reloads_refused": 1,
        "reloads_skipped": 2,
        "reload_latency": {"le": [0.05, 0.1, 1.0], "counts": [2, 3, 4], "sum": 0.42, "count": 5},
        "reload_interval": 30.0,
        "paused": False,
        "episodes": 40,
        "successes": 30,
        "last_eval": {"epoch": 6, "episodes": 12, "mean_return": 48.5, "success_rate": 0.75},
        "frames_rendered": 1200,
        "rendering": True,
        "view3d_viewers": 2,
        "training": {
            "state": "training",
            "epoch": 45,
            "max_epochs": 300,
            "env_steps": 92160,
            "env_steps_per_s": 6100.0,
            "mean_return": 40.0,
            "success_rate": 0.5,
            "updated": NOW - 1,
            "disk": {"runs_bytes": 5e8, "free_bytes": 2e9, "total_bytes": 1e10, "free_percent": 20.0},
        },
        "last_checkpoint_time": NOW - 90,
    }
    return {**base, **over}


def scrape(hub) -> dict:
    """{(sample name, frozenset of labels): value} and {family name: type}."""
    samples, types = {}, {}
    for family in text_string_to_metric_families(render(make_registry(hub)).decode()):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, types


def at(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def test_each_tester_is_a_set_of_series_labelled_tester_experiment_task():
    hub = Hub()
    hub.channel("tester-1", create=True).put_status(status("tester-1"))
    hub.channel("tester-2", create=True).put_status(status("tester-2", epoch=6, reloads=1, paused=True))
    samples, types = scrape(hub)
    one = {"tester": "tester-1", "experiment": "Reach_train_1", "task": "Reach"}
    two = {**one, "tester": "tester-2"}

    assert at(samples, "policycast_tester_checkpoint_epoch", **one) == 9
    assert at(samples, "policycast_tester_checkpoint_epoch", **two) == 6
    assert at(samples, "policycast_tester_checkpoint_env_steps", **one) == 18432
    assert types["policycast_tester_reloads"] == "counter"
    for result, value in (("loaded", 4), ("refused", 1), ("skipped", 2)):
        assert at(samples, "policycast_tester_reloads_total", **one, result=result) == value
    assert at(samples, "policycast_tester_reloads_total", **two, result="loaded") == 1
    # the histogram: cumulative buckets, +Inf = count, and its sum
    assert types["policycast_tester_reload_latency_seconds"] == "histogram"
    buckets = {
        le: at(samples, "policycast_tester_reload_latency_seconds_bucket", **one, le=le)
        for le in ("0.05", "0.1", "1.0", "+Inf")
    }
    assert buckets == {"0.05": 2, "0.1": 3, "1.0": 4, "+Inf": 5}
    assert at(samples, "policycast_tester_reload_latency_seconds_count", **one) == 5
    assert at(samples, "policycast_tester_reload_latency_seconds_sum", **one) == 0.42
    assert at(samples, "policycast_tester_episodes_total", **one) == 40
    assert at(samples, "policycast_tester_successes_total", **one) == 30
    assert at(samples, "policycast_tester_eval_return", **one) == 48.5
    assert at(samples, "policycast_tester_eval_success_ratio", **one) == 0.75
    assert at(samples, "policycast_tester_eval_epoch", **one) == 6
    assert at(samples, "policycast_tester_frames_rendered_total", **one) == 1200
    assert at(samples, "policycast_tester_rendering", **one) == 1
    assert at(samples, "policycast_tester_view3d_viewers", **one) == 2
    assert (at(samples, "policycast_tester_paused", **one), at(samples, "policycast_tester_paused", **two)) == (0, 1)
    assert at(samples, "policycast_tester_online", **one) == 1


def test_training_is_one_series_per_experiment_from_its_freshest_report():
    hub = Hub()
    older = status("tester-1")
    older["training"] = {**older["training"], "epoch": 44, "updated": NOW - 3}
    hub.channel("tester-1", create=True).put_status(older)
    hub.channel("tester-2", create=True).put_status(status("tester-2"))
    samples, types = scrape(hub)
    run = {"experiment": "Reach_train_1", "task": "Reach"}
    assert at(samples, "policycast_training_epoch", **run) == 45  # tester-2's newer report, once
    assert [k for k in samples if k[0] == "policycast_training_epoch"] == [
        ("policycast_training_epoch", frozenset(run.items()))
    ]
    assert types["policycast_training_env_steps"] == "counter"
    assert at(samples, "policycast_training_env_steps_total", **run) == 92160
    assert at(samples, "policycast_training_env_steps_per_second", **run) == 6100
    assert at(samples, "policycast_training_success_ratio", **run) == 0.5
    assert at(samples, "policycast_training_max_epochs", **run) == 300
    assert {
        s: at(samples, "policycast_training_state", **run, state=s) for s in ("training", "finished", "stopped")
    } == {
        "training": 1,
        "finished": 0,
        "stopped": 0,
    }
    assert at(samples, "policycast_training_last_checkpoint_timestamp_seconds", **run) == NOW - 90
    assert 90 <= at(samples, "policycast_training_seconds_since_checkpoint", **run) < 90 + 60
    assert at(samples, "policycast_runs_disk_free_bytes") == 2e9
    assert at(samples, "policycast_runs_disk_size_bytes") == 1e10
    assert at(samples, "policycast_runs_disk_used_bytes") == 5e8


def test_what_a_tester_does_not_report_is_absent_not_zero():
    """A tester waiting for its first checkpoint (or an older tester without the newer fields): no sample
    rather than a made-up 0 that would fire an alert; a run without disk figures exports none."""
    hub = Hub()
    waiting = {"id": "t1", "task": "Reach", "experiment": None, "epoch": None, "reloads": 0, "episodes": 0}
    hub.channel("t1", create=True).put_status(waiting)
    samples, _ = scrape(hub)
    names = {name for name, _ in samples}
    assert "policycast_tester_checkpoint_epoch" not in names
    assert "policycast_tester_reload_latency_seconds_count" not in names
    assert "policycast_training_epoch" not in names and "policycast_runs_disk_free_bytes" not in names
    assert (
        at(samples, "policycast_tester_reloads_total", tester="t1", experiment="", task="Reach", result="loaded") == 0
    )
    # nonsense in a status is skipped, never a scrape error
    hub.channel("t1").put_status({**waiting, "epoch": "nine", "reload_latency": {"le": [1], "counts": []}})
    samples, _ = scrape(hub)
    assert "policycast_tester_checkpoint_epoch" not in {name for name, _ in samples}


def test_an_offline_testers_training_report_is_not_exported():
    """Its last word stays (online 0, its counters), but the run's progress comes only from live testers."""
    hub = Hub()
    ch = hub.channel("tester-1", create=True)
    ch.put_status(status("tester-1"))
    ch.last_seen -= 60
    samples, _ = scrape(hub)
    one = {"tester": "tester-1", "experiment": "Reach_train_1", "task": "Reach"}
    assert at(samples, "policycast_tester_online", **one) == 0
    assert at(samples, "policycast_tester_checkpoint_epoch", **one) == 9
    assert "policycast_training_epoch" not in {name for name, _ in samples}


def test_the_readme_lists_every_metric():
    hub = Hub()
    hub.channel("tester-1", create=True).put_status(status("tester-1"))
    _, types = scrape(hub)
    readme = (ROOT / "README.md").read_text()
    start = readme.index("### Metrics")
    section = readme[start : readme.index("\n## ", start)]
    documented = set(re.findall(r"`(policycast_[a-z0-9_]+)", section))
    exported = {name + ("_total" if kind == "counter" else "") for name, kind in types.items()}
    assert exported - documented == set(), "exported but not in the README's metrics list"
