"""What a consumer group has processed, per stream of a producer's outbox: the set of sequence
numbers, kept as ranges, written in the transaction of the effects (one row per stream, not a
row per event). A stream is (topic, producer epoch, stream number), from the headers the relay
puts on every message (rentflow_common.outbox).

In order, a stream's set is one range and stays one row of two numbers. Out of order — a
republish after a lost topic, a replay, a retry — numbers already in the set are duplicates,
the others fill the gaps; gaps that stay are messages the consumer has not seen (`missing`)."""
from __future__ import annotations

from bisect import bisect_right
from typing import Any, Iterable, NamedTuple


class StreamKey(NamedTuple):
    topic: str
    epoch: str
    stream: int


class SeqSet:
    """Sorted, disjoint, non-adjacent half-open ranges [lo, hi) of sequence numbers."""

    __slots__ = ("lows", "highs")

    def __init__(self, flat: Iterable[int] = ()) -> None:
        values = list(flat)
        self.lows: list[int] = values[0::2]
        self.highs: list[int] = values[1::2]

    def __contains__(self, seq: int) -> bool:
        i = bisect_right(self.lows, seq) - 1
        return i >= 0 and seq < self.highs[i]

    def take(self, seq: int) -> bool:
        """Adds `seq`: False if it was in the set already (a repeat). The next number in order (the
        usual case) costs one comparison."""
        highs = self.highs
        if highs and seq == highs[-1]:
            highs[-1] = seq + 1
            return True
        if seq in self:
            return False
        self.add(seq)
        return True

    def add(self, seq: int) -> None:
        if not self.lows or seq >= self.highs[-1]:  # the usual case: next in order
            if self.highs and seq == self.highs[-1]:
                self.highs[-1] = seq + 1
            else:
                self.lows.append(seq)
                self.highs.append(seq + 1)
            return
        i = bisect_right(self.lows, seq) - 1
        if i >= 0 and seq < self.highs[i]:
            return
        joins_left = i >= 0 and self.highs[i] == seq
        joins_right = i + 1 < len(self.lows) and self.lows[i + 1] == seq + 1
        if joins_left and joins_right:
            self.highs[i] = self.highs[i + 1]
            del self.lows[i + 1], self.highs[i + 1]
        elif joins_left:
            self.highs[i] = seq + 1
        elif joins_right:
            self.lows[i + 1] = seq
        else:
            self.lows.insert(i + 1, seq)
            self.highs.insert(i + 1, seq + 1)

    def flat(self) -> list[int]:
        out: list[int] = []
        for lo, hi in zip(self.lows, self.highs):
            out += (lo, hi)
        return out

    def missing(self) -> int:
        """Numbers between the first and the last seen that were not seen."""
        return sum(self.lows[i + 1] - self.highs[i] for i in range(len(self.lows) - 1))

    def copy(self) -> "SeqSet":
        return SeqSet(self.flat())

    def __repr__(self) -> str:
        return f"SeqSet({list(zip(self.lows, self.highs))})"


async def lock_progress(raw: Any, group_id: str, keys: Iterable[StreamKey]) -> dict[StreamKey, SeqSet]:
    """The sets of these streams, their rows locked until commit (created empty when new), so two
    members of a group that both hold a stream for a moment (a rebalance) cannot both process a
    number. Two statements whatever the number of streams."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    topics, epochs, streams = [k.topic for k in keys], [k.epoch for k in keys], [k.stream for k in keys]
    await raw.execute(
        "insert into consumer_progress (group_id, topic, epoch, stream, ranges) "
        "select $1, t, e, s, '{}' from unnest($2::text[], $3::uuid[], $4::int[]) as u(t, e, s) "
        "on conflict do nothing", group_id, topics, epochs, streams)
    rows = await raw.fetch(
        "select p.topic, p.epoch::text as epoch, p.stream, p.ranges from consumer_progress p "
        "join unnest($2::text[], $3::uuid[], $4::int[]) as u(t, e, s) on p.topic = u.t and p.epoch = u.e "
        "and p.stream = u.s where p.group_id = $1 order by p.topic, p.epoch, p.stream for update of p",
        group_id, topics, epochs, streams)
    return {StreamKey(r["topic"], r["epoch"], r["stream"]): SeqSet(r["ranges"]) for r in rows}


async def save_progress(raw: Any, group_id: str, sets: dict[StreamKey, SeqSet]) -> None:
    if not sets:
        return
    items = sorted(sets.items())
    await raw.execute(
        "update consumer_progress p set ranges = u.r::bigint[], updated_at = now() "
        "from unnest($2::text[], $3::uuid[], $4::int[], $5::text[]) as u(t, e, s, r) "
        "where p.group_id = $1 and p.topic = u.t and p.epoch = u.e and p.stream = u.s",
        group_id, [k.topic for k, _ in items], [k.epoch for k, _ in items], [k.stream for k, _ in items],
        [_array(v.flat()) for _, v in items])


async def save_progress_if(raw: Any, group_id: str, sets: dict[StreamKey, SeqSet],
                           expected: dict[StreamKey, list[int]]) -> bool:
    """`save_progress` for rows not locked beforehand, where each still holds `expected` (the ranges the
    caller started from): False if any does not (another member recorded progress of its stream
    meanwhile), and the caller rolls back (the rows that matched were written). A row another transaction
    holds is waited for, then compared as that one left it."""
    if not sets:
        return True
    items = sorted(sets.items())
    status = await raw.execute(
        "update consumer_progress p set ranges = u.r::bigint[], updated_at = now() "
        "from unnest($2::text[], $3::uuid[], $4::int[], $5::text[], $6::text[]) as u(t, e, s, r, was) "
        "where p.group_id = $1 and p.topic = u.t and p.epoch = u.e and p.stream = u.s and p.ranges = u.was::bigint[]",
        group_id, [k.topic for k, _ in items], [k.epoch for k, _ in items], [k.stream for k, _ in items],
        [_array(v.flat()) for _, v in items], [_array(expected[k]) for k, _ in items])
    return int(status.split()[-1]) == len(items)


def _array(flat: list[int]) -> str:
    return "{" + ",".join(map(str, flat)) + "}"


async def progress_report(raw: Any, group_id: str) -> list[dict[str, Any]]:
    """Per stream: how many numbers were processed and how many are missing between them."""
    out = []
    for r in await raw.fetch("select topic, epoch::text as epoch, stream, ranges, updated_at from consumer_progress "
                             "where group_id = $1 order by topic, stream", group_id):
        s = SeqSet(r["ranges"])
        out.append({"topic": r["topic"], "epoch": r["epoch"], "stream": r["stream"],
                    "processed": sum(h - lo for lo, h in zip(s.lows, s.highs)),
                    "last_seq": s.highs[-1] - 1 if s.highs else 0, "missing": s.missing(),
                    "updated_at": r["updated_at"].isoformat()})
    return out
