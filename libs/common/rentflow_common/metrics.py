"""Stream health as Prometheus metrics (`GET /metrics` on every service) and the throughput
figures of `/v1/ops/status`.

Counters are read at scrape time from what the consumers and the relay already count (nothing
is added to the hot path); the outbox backlog comes from the database and consumer lag from
the broker (log end offset − committed offset per partition), both fetched when scraped and
the lag cached for a few seconds. Each runtime has its own registry, so several services (or
tests) in one process do not collide."""
from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from rentflow_common.kafka import PartitionLag, partition_lag
from rentflow_common.logging import get_logger

log = get_logger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Rate:
    """Events per second over the last `window` seconds."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._events: deque[tuple[float, int]] = deque()

    def add(self, n: int, now: float | None = None) -> None:
        self._events.append((time.monotonic() if now is None else now, n))

    def per_second(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self._events and self._events[0][0] < now - self.window:
            self._events.popleft()
        return round(sum(n for _, n in self._events) / self.window, 2)


class LagCache:
    """Consumer lag of one service's groups, from the broker, at most every `max_age` seconds."""

    def __init__(self, bootstrap_servers: str, prefix: str, max_age: float = 5.0) -> None:
        self._bootstrap, self._prefix = bootstrap_servers, prefix
        self.groups: dict[str, list[str]] = {}  # group → topics, filled as consumers are registered
        self.max_age = max_age
        self._at = -1e9
        self._rows: list[PartitionLag] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> list[PartitionLag] | None:
        """None when the broker could not be asked (the figures are then left out, not zero)."""
        if not self.groups:
            return []
        async with self._lock:
            if time.monotonic() - self._at > self.max_age:
                try:
                    self._rows = await asyncio.wait_for(partition_lag(self._bootstrap, self.groups,
                                                                      prefix=self._prefix), 10)
                except Exception as exc:
                    log.warning("metrics.lag_unavailable", error=str(exc))
                    self._rows = None
                self._at = time.monotonic()
            return self._rows


class RuntimeCollector:
    """Everything `/metrics` shows for one ServiceRuntime (read duck-typed: name, ready,
    consumers with .group_id/.stats, relay with .published)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._backlog: dict[str, Any] | None = None
        self._lag: list[PartitionLag] | None = None

    async def render(self) -> bytes:
        from rentflow_common.outbox import backlog  # here: outbox imports this module for Rate

        try:
            self._backlog = await backlog(self.runtime.engine)
        except Exception as exc:  # database away: leave the figure out
            log.warning("metrics.backlog_unavailable", error=str(exc))
            self._backlog = None
        self._lag = await self.runtime.lag.get()
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        rt, svc = self.runtime, self.runtime.name
        ready = GaugeMetricFamily("rentflow_service_ready", "1 once the service is started and serving", labels=["service"])
        ready.add_metric([svc], 1.0 if rt.ready else 0.0)
        yield ready
        messages = CounterMetricFamily("rentflow_consumer_messages", "messages consumed (new and duplicate)",
                                       labels=["service", "group", "topic"])
        batches = CounterMetricFamily("rentflow_consumer_batches", "batches committed", labels=["service", "group"])
        duplicates = CounterMetricFamily("rentflow_consumer_duplicates", "messages already processed",
                                         labels=["service", "group"])
        dead = CounterMetricFamily("rentflow_consumer_dead_letters", "messages sent to the group's dead-letter topic",
                                   labels=["service", "group"])
        contended = CounterMetricFamily("rentflow_consumer_contended", "transactions tried again after PostgreSQL "
                                        "broke a deadlock or serialization conflict with another writer",
                                        labels=["service", "group"])
        last = GaugeMetricFamily("rentflow_consumer_last_batch_timestamp_seconds", "when the last batch committed",
                                 labels=["service", "group"])
        # one sample per group: the members of a group in this process (RENTFLOW_LEDGER_CONSUMERS) summed,
        # as a scrape with the same labels twice is rejected
        groups: dict[str, list[Any]] = {}
        for c in rt.consumers:
            groups.setdefault(c.group_id, []).append(c)
        for group, members in groups.items():
            stats = [c.stats for c in members]
            for topic in members[0].topics:
                messages.add_metric([svc, group, topic], float(sum(s.per_topic.get(topic, 0) for s in stats)))
            batches.add_metric([svc, group], float(sum(s.batches for s in stats)))
            duplicates.add_metric([svc, group], float(sum(s.duplicates for s in stats)))
            dead.add_metric([svc, group], float(sum(s.dead_letters for s in stats)))
            contended.add_metric([svc, group], float(sum(s.contended for s in stats)))
            at = [s.last_batch_at for s in stats if s.last_batch_at is not None]
            if at:
                last.add_metric([svc, group], max(at).timestamp())
        yield from (messages, batches, duplicates, dead, contended, last)
        if self._lag is not None:
            lag = GaugeMetricFamily("rentflow_consumer_lag", "log end offset minus committed offset",
                                    labels=["service", "group", "topic", "partition"])
            for row in self._lag:
                lag.add_metric([svc, row.group, row.topic, str(row.partition)], float(row.lag))
            yield lag
        published = CounterMetricFamily("rentflow_outbox_published", "outbox rows the relay published",
                                        labels=["service"])
        published.add_metric([svc], float(rt.relay.published if rt.relay else 0))
        yield published
        republished = CounterMetricFamily("rentflow_outbox_republished", "outbox rows published again (after a "
                                          "failure, a replay or a lost topic)", labels=["service"])
        republished.add_metric([svc], float(rt.relay.republished if rt.relay else 0))
        yield republished
        if self._backlog is not None:
            backlog_g = GaugeMetricFamily("rentflow_outbox_backlog", "outbox rows not yet published", labels=["service"])
            backlog_g.add_metric([svc], float(self._backlog["backlog"]))
            yield backlog_g
            age = GaugeMetricFamily("rentflow_outbox_oldest_age_seconds", "age of the oldest unpublished outbox row",
                                    labels=["service"])
            age.add_metric([svc], float(self._backlog["oldest_age_s"]))
            yield age
            retained = GaugeMetricFamily("rentflow_outbox_retained", "published events kept to be published again",
                                         labels=["service"])
            retained.add_metric([svc], float(self._backlog["retained"]))
            yield retained
