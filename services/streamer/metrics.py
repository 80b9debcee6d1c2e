"""Prometheus metrics, read from the hub at scrape time (no second set of counters to keep in step).

Testers push their status every second (or four times a second); the streamer already holds the last one
of each, so it exports per-tester series from them with prometheus_client's custom-collector pattern: a
scrape builds the families from the statuses, nothing is kept in step between scrapes. Names follow
Prometheus' conventions: `policycast_` prefix, base units (seconds, bytes, ratios 0..1), counters end in
`_total` (prometheus_client adds it), and the labels `tester`, `experiment`, `task` on every tester's series.
Training progress is the followed run's `progress.json` that testers pass on: one series per experiment
(the freshest report of its online testers), labelled `experiment` and `task`. README "Metrics" lists them.
"""

from __future__ import annotations

import math
import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from .hub import Channel, Hub

TESTER_LABELS = ["tester", "experiment", "task"]
TRAINING_LABELS = ["experiment", "task"]
TRAINING_STATES = ("training", "finished", "stopped")


def _number(value) -> float | None:
    """A status value as a sample, or None (missing, null, not a number: no sample rather than a wrong one)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _eval(field: str):
    return lambda s: (s.get("last_eval") or {}).get(field)


# (name, help, status -> value): one sample per tester whose status has the value.
TESTER_GAUGES = (
    ("policycast_tester_checkpoint_epoch", "Epoch of the checkpoint whose weights the tester plays", "epoch"),
    (
        "policycast_tester_checkpoint_env_steps",
        "Env-steps the playing checkpoint was trained for (rl_games' frame)",
        "checkpoint_env_steps",
    ),
    ("policycast_tester_eval_epoch", "Epoch of the tester's last evaluation", _eval("epoch")),
    ("policycast_tester_eval_episodes", "Episodes in the tester's last evaluation", _eval("episodes")),
    ("policycast_tester_eval_return", "Mean episode return of the tester's last evaluation", _eval("mean_return")),
    (
        "policycast_tester_eval_success_ratio",
        "Success rate (0..1) of the tester's last evaluation",
        _eval("success_rate"),
    ),
    ("policycast_tester_rendering", "1 while the tester renders frames (someone reads them)", "rendering"),
    ("policycast_tester_paused", "1 while the tester is paused", "paused"),
    ("policycast_tester_view3d_viewers", "Pages showing the tester's live 3D view", "view3d_viewers"),
    (
        "policycast_tester_reload_interval_seconds",
        "Least seconds the tester keeps a checkpoint before a newer one replaces it",
        "reload_interval",
    ),
)
TESTER_COUNTERS = (
    ("policycast_tester_episodes", "Episodes the tester finished (since it started)", "episodes"),
    ("policycast_tester_successes", "Successful episodes (since it started)", "successes"),
    ("policycast_tester_frames_rendered", "Frames the tester rendered and encoded (since started)", "frames_rendered"),
)
RELOAD_RESULTS = (("loaded", "reloads"), ("refused", "reloads_refused"), ("skipped", "reloads_skipped"))
# The followed run's progress.json, as testers report it.
TRAINING_GAUGES = (
    ("policycast_training_epoch", "PPO epoch the trainer reached", "epoch"),
    ("policycast_training_max_epochs", "The run's epoch budget (absent: until stopped)", "max_epochs"),
    ("policycast_training_env_steps_per_second", "Training throughput over the last epoch", "env_steps_per_s"),
    ("policycast_training_success_ratio", "Success rate (0..1) of the training episodes", "success_rate"),
    ("policycast_training_mean_return", "Mean return of the training episodes", "mean_return"),
    ("policycast_training_updated_timestamp_seconds", "Unix time progress.json was last rewritten", "updated"),
)


def _value(status: dict, field):
    return _number(field(status) if callable(field) else status.get(field))


class HubCollector:
    def __init__(self, hub: Hub):
        self.hub = hub

    def collect(self):
        chans = self.hub.channels()
        yield from self._stream(chans)
        yield from self._testers(chans)
        yield from self._training([c for c in chans if c.online()])
        yield GaugeMetricFamily(
            "policycast_stream_uptime_seconds",
            "Seconds since the streamer started",
            value=self.hub.stats()["uptime_seconds"],
        )

    @staticmethod
    def _labels(c: Channel) -> list[str]:
        s = c.status
        return [c.id, str(s.get("experiment") or ""), str(s.get("task") or "")]

    def _stream(self, chans):
        online = GaugeMetricFamily(
            "policycast_tester_online", "1 while a tester sends status or frames", labels=TESTER_LABELS
        )
        viewers = GaugeMetricFamily(
            "policycast_stream_viewers", "MJPEG viewers of a tester's stream", labels=TESTER_LABELS
        )
        frames_in = CounterMetricFamily(
            "policycast_stream_frames_in", "JPEG frames received from a tester", labels=TESTER_LABELS
        )
        frames_out = CounterMetricFamily("policycast_stream_frames_out", "Frames sent to viewers", labels=TESTER_LABELS)
        dropped = CounterMetricFamily(
            "policycast_stream_frames_dropped",
            "Frames a slow viewer skipped (it got a newer one instead)",
            labels=TESTER_LABELS,
        )
        for c in chans:
            labels = self._labels(c)
            online.add_metric(labels, 1 if c.online() else 0)
            viewers.add_metric(labels, c.viewers)
            frames_in.add_metric(labels, c.frames_in)
            frames_out.add_metric(labels, c.frames_out)
            dropped.add_metric(labels, c.frames_dropped)
        yield from (online, viewers, frames_in, frames_out, dropped)

    def _testers(self, chans):
        gauges = [(GaugeMetricFamily(n, h, labels=TESTER_LABELS), f) for n, h, f in TESTER_GAUGES]
        counters = [(CounterMetricFamily(n, h, labels=TESTER_LABELS), f) for n, h, f in TESTER_COUNTERS]
        reloads = CounterMetricFamily(
            "policycast_tester_reloads",
            "Checkpoints by what the tester did with them: loaded (swapped in after the first), refused "
            "(failed to load or validate), skipped (landed while the current one was held; a newer one came in)",
            labels=[*TESTER_LABELS, "result"],
        )
        latency = HistogramMetricFamily(
            "policycast_tester_reload_latency_seconds",
            "Seconds from a checkpoint landing (or the reload interval's hold ending) to its weights acting",
            labels=TESTER_LABELS,
        )
        for c in chans:
            s, labels = c.status, self._labels(c)
            for family, field in gauges + counters:
                value = _value(s, field)
                if value is not None:
                    family.add_metric(labels, value)
            for result, field in RELOAD_RESULTS:
                value = _value(s, field)
                if value is not None:
                    reloads.add_metric([*labels, result], value)
            buckets = _buckets(s.get("reload_latency"))
            if buckets is not None:
                latency.add_metric(labels, buckets[0], buckets[1])
        yield from (f for f, _ in gauges + counters)
        yield from (reloads, latency)

    def _training(self, chans):
        """One series per experiment: the freshest progress.json its online testers report."""
        runs: dict[tuple, tuple[dict, float | None]] = {}
        for c in chans:
            p, s = c.status.get("training"), c.status
            if not isinstance(p, dict) or not s.get("experiment"):
                continue
            key = (str(s["experiment"]), str(s.get("task") or ""))
            if key not in runs or (_number(p.get("updated")) or 0) > (_number(runs[key][0].get("updated")) or 0):
                runs[key] = (p, _number(s.get("last_checkpoint_time")))
        gauges = [(GaugeMetricFamily(n, h, labels=TRAINING_LABELS), f) for n, h, f in TRAINING_GAUGES]
        env_steps = CounterMetricFamily(
            "policycast_training_env_steps", "Env-steps the run has trained", labels=TRAINING_LABELS
        )
        state = GaugeMetricFamily(
            "policycast_training_state",
            "1 for the run's state: training, finished, or stopped (its trainer quit or went silent)",
            labels=[*TRAINING_LABELS, "state"],
        )
        saved = GaugeMetricFamily(
            "policycast_training_last_checkpoint_timestamp_seconds",
            "Unix time the run's newest checkpoint landed",
            labels=TRAINING_LABELS,
        )
        since = GaugeMetricFamily(
            "policycast_training_seconds_since_checkpoint",
            "Seconds since the run's newest checkpoint landed",
            labels=TRAINING_LABELS,
        )
        disk, disk_updated = None, -1.0  # the freshest report of the runs' disk (progress.json's `disk`)
        now = time.time()
        for (experiment, task), (p, checkpoint_time) in sorted(runs.items()):
            labels = [experiment, task]
            for family, field in gauges:
                value = _value(p, field)
                if value is not None:
                    family.add_metric(labels, value)
            if (value := _number(p.get("env_steps"))) is not None:
                env_steps.add_metric(labels, value)
            for name in TRAINING_STATES:
                state.add_metric([*labels, name], 1 if p.get("state") == name else 0)
            if checkpoint_time is not None:
                saved.add_metric(labels, checkpoint_time)
                since.add_metric(labels, max(0.0, now - checkpoint_time))
            if isinstance(p.get("disk"), dict) and (_number(p.get("updated")) or 0.0) > disk_updated:
                disk, disk_updated = p["disk"], _number(p.get("updated")) or 0.0
        yield from (f for f, _ in gauges)
        yield from (env_steps, state, saved, since)
        yield from _disk(disk or {})


def _buckets(h) -> tuple[list, float] | None:
    """A status's `reload_latency` ({"le", "counts" (cumulative), "sum", "count"}) as histogram samples."""
    if not isinstance(h, dict):
        return None
    le, counts, total, n = h.get("le"), h.get("counts"), _number(h.get("sum")), _number(h.get("count"))
    if not isinstance(le, list) or not isinstance(counts, list) or len(le) != len(counts) or None in (total, n):
        return None
    if any(_number(x) is None for x in le + counts):
        return None
    buckets = [(_le(bound), float(count)) for bound, count in zip(le, counts)] + [("+Inf", n)]
    return buckets, total


def _le(bound) -> str:
    return repr(float(bound))  # Prometheus' own spelling of a bucket bound: 0.05, 1.0, 30.0


def _disk(d: dict):
    for name, help_text, field in (
        ("policycast_runs_disk_used_bytes", "Bytes the training runs take (the trainer's runs folder)", "runs_bytes"),
        ("policycast_runs_disk_free_bytes", "Free bytes on the filesystem holding the training runs", "free_bytes"),
        ("policycast_runs_disk_size_bytes", "Size of the filesystem holding the training runs", "total_bytes"),
    ):
        family = GaugeMetricFamily(name, help_text)
        if (value := _number(d.get(field))) is not None:
            family.add_metric([], value)
        yield family


def make_registry(hub: Hub) -> CollectorRegistry:
    """A private registry per app, so several streamers in one process (tests) never collide."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(HubCollector(hub))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
