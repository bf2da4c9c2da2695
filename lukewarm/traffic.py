"""What a month of traffic does to a lukewarm stack: how busy it is, what warming covers.

The cost estimate prices what this module counts. Traffic is taken as steady over the
month (arrivals at random, Poisson), each request holding an instance for its duration,
so the instances busy at once are Poisson too (the M/G/inf queue): with `busy` of them on
average, a request finds at least `n` others in flight with probability P(K >= n).

Three things decide how many requests meet a cold start once a warmer runs:
- the share of the month inside warm windows: after each run the warmed instances stay
  warm until the next run, or for `ASSUMED_IDLE_S` if the next run is further away;
- the requests that arrive while every warmed instance is busy: they need another
  instance, cold as often as without warming;
- Lambda recycles execution environments after some hours even when they are kept busy
  (`ASSUMED_LIFETIME_S`): a user request that reaches a recycled instance before the next
  warm run pays its cold start.

AWS documents neither how long an idle instance is kept nor how long one lives: both
figures are assumptions, printed as such beside the result. The model is an
approximation: real traffic comes in bursts and daily cycles, and which idle instance
Lambda hands a request to is not documented either. `lukewarm probe` measures the cold
fraction of real traffic; `lukewarm cost --probe-report` uses it instead.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

ASSUMED_IDLE_S = 10 * 60.0
"""How long Lambda keeps an idle warmed instance: undocumented; reports range from 5 to 15
minutes, and `make bench-warm` reclaims after 10."""
ASSUMED_LIFETIME_S = 2 * 3600.0
"""How long an execution environment lives before Lambda recycles it, however busy:
undocumented; reports say every few hours."""


@dataclass(frozen=True)
class Window:
    """One warm schedule over the month: when it runs (seconds from the month's start) and
    how many instances each run warms."""

    run_offsets_s: tuple[float, ...]
    concurrency: int


@dataclass(frozen=True)
class Coverage:
    """What warming buys, as shares of the month's requests."""

    busy: float
    """Instances busy at once on average: requests a second x seconds each."""
    covered_share: float
    """Share of the month inside a warm window (or kept by provisioned concurrency)."""
    beyond_warmed_share: float
    """Share of requests that arrive inside a window while every warmed instance is busy."""
    cold_share: float
    """Share of requests that meet a cold start, recycled instances included."""
    recycled_share: float
    """Of those, the share that meets an instance Lambda recycled (ASSUMED_LIFETIME_S)."""
    warmer_starts: float = 0.0
    """Instances the warmer itself starts a month (billed inits no user waits for)."""


def _poisson_below(n: int, busy: float) -> Iterator[tuple[int, float]]:
    """(k, P(K = k)) for k from 0 to n - 1, K ~ Poisson(busy)."""
    term = math.exp(-busy)
    for k in range(n):
        if k:
            term *= busy / k
        yield k, term


def at_least(n: int, busy: float) -> float:
    """P(K >= n) for K ~ Poisson(busy): the chance a request finds n others in flight."""
    if n <= 0:
        return 1.0
    if busy <= 0:
        return 0.0
    return max(0.0, 1.0 - sum(p for _, p in _poisson_below(n, busy)))


def expected_min(n: int, busy: float) -> float:
    """E[min(K, n)] for K ~ Poisson(busy): instances of n kept busy on average."""
    if n <= 0 or busy <= 0:
        return 0.0
    return n - sum((n - k) * p for k, p in _poisson_below(n, busy))


def covered_seconds(window: Window, month_s: float, idle_s: float = ASSUMED_IDLE_S) -> list[float]:
    """How long after each run its instances stay warm: until the next run, at most `idle_s`."""
    offsets = sorted(window.run_offsets_s)
    if not offsets:
        return []
    ends = [*offsets[1:], month_s]
    return [max(0.0, min(end - start, idle_s)) for start, end in zip(offsets, ends, strict=True)]


def warmed_levels(windows: Sequence[Window], month_s: float) -> dict[int, float]:
    """Seconds of the month at each warmed concurrency (0: outside every window); where
    windows overlap, the largest concurrency counts."""
    changes: list[tuple[float, int, int]] = []  # (when, +1 starts / -1 ends, concurrency)
    for window in windows:
        for start, span in zip(
            sorted(window.run_offsets_s), covered_seconds(window, month_s), strict=True
        ):
            if span > 0:
                changes += [(start, 1, window.concurrency), (start + span, -1, window.concurrency)]
    changes.sort(key=lambda change: (change[0], change[1]))
    active: Counter[int] = Counter()
    levels: dict[int, float] = {}
    when = 0.0
    for at, step, concurrency in [*changes, (month_s, 0, 0)]:
        level = max((c for c, n in active.items() if n > 0), default=0)
        levels[level] = levels.get(level, 0.0) + max(0.0, min(at, month_s) - when)
        when = max(when, min(at, month_s))
        active[concurrency] += step
    return levels


def coverage(
    windows: Sequence[Window],
    *,
    requests: float,
    duration_s: float,
    month_s: float,
    cold_fraction: float | None = None,
    always_warm: int = 0,
    idle_s: float = ASSUMED_IDLE_S,
    lifetime_s: float = ASSUMED_LIFETIME_S,
) -> Coverage:
    """The cold share of requests with these warm windows (and `always_warm` instances that
    provisioned concurrency keeps), from the month's traffic.

    A request that needs the (n+1)-th instance at once finds it cold with probability
    `cold_fraction` when one is given (measured by `lukewarm probe`), else with the chance
    that no request needed that many in the last `idle_s`. Warmed instances are never cold
    (until recycled); the rest are as cold as without warming.
    """
    rate = requests / month_s if month_s else 0.0
    busy = rate * duration_s
    levels = warmed_levels(windows, month_s)
    if always_warm:
        merged: dict[int, float] = {}
        for level, seconds in levels.items():
            merged[max(level, always_warm)] = merged.get(max(level, always_warm), 0.0) + seconds
        levels = merged

    def needs_cold(n: int) -> float:
        if cold_fraction is not None:
            return cold_fraction
        return math.exp(-rate * at_least(n, busy) * idle_s)

    def cold_beyond(warmed: int) -> float:
        """Share of requests that need an instance past the `warmed` ones, and find it cold."""
        top = int(busy + 10 * math.sqrt(busy) + 20)
        return sum(poisson(n, busy) * needs_cold(n) for n in range(warmed, max(top, warmed)))

    share = {level: seconds / month_s for level, seconds in levels.items()} if month_s else {}
    cold = sum(part * cold_beyond(level) for level, part in share.items())
    # Lambda recycles what is alive: the on-demand instances busy beyond the warmed ones
    # (a user meets each replacement; a measured cold fraction has them already) and the
    # warmed ones (until the next warm run).
    on_demand = sum(
        part * max(0.0, busy - expected_min(level, busy)) for level, part in share.items()
    )
    recycled = on_demand * month_s / lifetime_s if cold_fraction is None else 0.0
    recycled_warmed, warmer_starts = _recycled_warmed(windows, busy, rate, month_s, lifetime_s)
    recycled += recycled_warmed
    recycled_share = min(1.0, recycled / requests) if requests else 0.0
    return Coverage(
        busy=busy,
        covered_share=sum(part for level, part in share.items() if level > 0),
        beyond_warmed_share=sum(
            part * at_least(level, busy) for level, part in share.items() if level
        ),
        cold_share=min(1.0, cold + recycled_share),
        recycled_share=recycled_share,
        warmer_starts=warmer_starts,
    )


def poisson(n: int, mean: float) -> float:
    """P(K = n) for K ~ Poisson(mean)."""
    if mean <= 0:
        return 1.0 if n == 0 else 0.0
    return math.exp(n * math.log(mean) - mean - math.lgamma(n + 1))


def _recycled_warmed(
    windows: Sequence[Window],
    busy: float,
    rate: float,
    month_s: float,
    lifetime_s: float,
    idle_s: float = ASSUMED_IDLE_S,
) -> tuple[float, float]:
    """Requests a month that meet a warmed instance recycled since the last warm run, and
    the instances the warmer starts itself.

    Each warmed instance is recycled once per `lifetime_s` of warm time. Until the next run
    (half a run interval on average), the next request that finds no other warmed instance
    free starts a new one: at most one cold start per recycle; otherwise the next run does.
    The warmer also starts its instances at every run that follows a gap longer than
    `idle_s` (the month's first run among them).
    """
    users, warmer = 0.0, 0.0
    for window in windows:
        spans = covered_seconds(window, month_s)
        if not spans or not sum(spans):
            continue
        offsets = sorted(window.run_offsets_s)
        after_gaps = 1 + sum(1 for a, b in itertools.pairwise(offsets) if b - a > idle_s)
        gap = sum(spans) / len(spans) / 2
        recycles = window.concurrency * sum(spans) / lifetime_s
        user_first = (1.0 - math.exp(-rate * gap)) * at_least(window.concurrency - 1, busy)
        users += recycles * user_first
        warmer += recycles * (1 - user_first) + window.concurrency * after_gaps
    return users, warmer
