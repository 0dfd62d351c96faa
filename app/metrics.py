"""Prometheus metrics of one process, served at ``/metrics``."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """A registry per app, so several apps in one process (as in tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.bids = Counter(
            "auction_bids",
            "Bids answered, by outcome (accepted or the refusal's code).",
            ["outcome"],
            registry=self.registry,
        )
        self.bid_seconds = Histogram(
            "auction_bid_seconds",
            "Time to answer a bid, in seconds.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "auction_events_appended",
            "Events appended to the log, by type.",
            ["type"],
            registry=self.registry,
        )
        self.watchers = Gauge(
            "auction_watchers",
            "WebSocket watchers connected to this process.",
            registry=self.registry,
        )
        self.broker_lag = Histogram(
            "auction_broker_lag_seconds",
            "From another process's commit to this process delivering the event.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scheduler_lag = Histogram(
            "auction_scheduler_lag_seconds",
            "From a deadline to the scheduler acting on it.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def count_watchers_with(self, count: Callable[[], int]) -> None:
        self.watchers.set_function(lambda: float(count()))

    def render(self) -> bytes:
        return generate_latest(self.registry)
