"""Prometheus metrics, read from the hub at scrape time (no second set of counters to keep in step)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .hub import Hub


class HubCollector:
    def __init__(self, hub: Hub):
        self.hub = hub

    def collect(self):
        chans = self.hub.channels()
        viewers = GaugeMetricFamily(
            "policycast_stream_viewers", "Viewers connected to a tester's stream", labels=["tester"]
        )
        online = GaugeMetricFamily(
            "policycast_tester_online", "1 while a tester sends status or frames", labels=["tester"]
        )
        frames_in = CounterMetricFamily(
            "policycast_stream_frames_in", "JPEG frames received from a tester", labels=["tester"]
        )
        frames_out = CounterMetricFamily("policycast_stream_frames_out", "Frames sent to viewers", labels=["tester"])
        dropped = CounterMetricFamily(
            "policycast_stream_frames_dropped",
            "Frames a slow viewer skipped (it got a newer one instead)",
            labels=["tester"],
        )
        for c in chans:
            viewers.add_metric([c.id], c.viewers)
            online.add_metric([c.id], 1 if c.online() else 0)
            frames_in.add_metric([c.id], c.frames_in)
            frames_out.add_metric([c.id], c.frames_out)
            dropped.add_metric([c.id], c.frames_dropped)
        yield from (viewers, online, frames_in, frames_out, dropped)
        yield GaugeMetricFamily(
            "policycast_stream_uptime_seconds",
            "Seconds since the streamer started",
            value=self.hub.stats()["uptime_seconds"],
        )


def make_registry(hub: Hub) -> CollectorRegistry:
    """A private registry per app, so several streamers in one process (tests) never collide."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(HubCollector(hub))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
