"""Duration buckets of bounded error: how a duration is counted in the histograms, and read back.

A percentile over months of stays is read from counts per bucket, not from millions of rows, so
the buckets decide how exact it can be. They are linear near zero and log-spaced beyond, the way
HdrHistogram and DDSketch cut theirs:
- below 5 s, 100 ms wide: the bucket's midpoint is within 50 ms of every duration in it;
- from 5 s on, each bucket `GROWTH` times as wide as the one before, [5 s·g^j, 5 s·g^(j+1)) for g = `GROWTH`: its
  representative 2·lo·hi/(lo + hi) is within `RELATIVE_ERROR` (0.9 %) of every duration in it;
- negative durations (lateness of an order ready before its pickup time) mirror the positive.

The bucket of a duration comes from its whole microseconds, so Python (the writer), PostgreSQL
and SQLite (the backfill) put one duration in the same bucket. Each histogram row also keeps the
smallest and the largest duration it counted.

A percentile (percentile_cont) interpolates between the two samples nearest its rank. When
they lie in different buckets, the lower is the largest of its bucket and the upper the
smallest of its own, both known exactly, and so is the percentile. When they share a bucket,
each is taken at the bucket's representative (clamped to its smallest and largest), and the
percentile, which lies in the same bucket, is within 0.9 % or 50 ms of the exact one,
whichever is larger.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import BigInteger, Double, Integer, case, cast, func, literal, literal_column

LINEAR_LIMIT_MICROS = 5_000_000  # below 5 s, linear buckets
LINEAR_WIDTH_MICROS = 100_000  # of 100 ms
LINEAR_BUCKETS = LINEAR_LIMIT_MICROS // LINEAR_WIDTH_MICROS
RELATIVE_ERROR = 0.009
GROWTH = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
LN_GROWTH = math.log(GROWTH)


def bucket_of_micros(micros: int) -> int:
    """The bucket of a duration of `micros` microseconds (negative for a negative duration)."""
    magnitude = abs(micros)
    if magnitude < LINEAR_LIMIT_MICROS:
        index = magnitude // LINEAR_WIDTH_MICROS
    else:
        index = LINEAR_BUCKETS + math.floor(math.log(magnitude / LINEAR_LIMIT_MICROS) / LN_GROWTH)
    return index if micros >= 0 else -index - 1


def bucket_in_sql(seconds: Any) -> Any:
    """`bucket_of_micros` as SQL, of a duration in seconds: the same bucket on either database
    (SQLite needs `ln` and `floor`, which `kitchen.db` makes sure it has)."""
    micros = cast(func.round(seconds * literal_column("1000000")), BigInteger)
    magnitude = func.abs(micros)
    logarithmic = literal(LINEAR_BUCKETS, Integer) + cast(
        func.floor(
            func.ln(cast(magnitude, Double) / literal(float(LINEAR_LIMIT_MICROS), Double)) / literal(LN_GROWTH, Double)
        ),
        Integer,
    )
    index = case(
        (magnitude < LINEAR_LIMIT_MICROS, cast(magnitude // literal(LINEAR_WIDTH_MICROS, BigInteger), Integer)),
        else_=logarithmic,
    )
    return case((micros >= 0, index), else_=-index - 1)


def bucket_of_seconds(seconds: float) -> int:
    return bucket_of_micros(round(seconds * 1_000_000))


def representative(bucket: int) -> float:
    """The value (seconds) that stands for every duration in `bucket`."""
    if bucket < 0:
        return -representative(-bucket - 1)
    if bucket < LINEAR_BUCKETS:
        return (bucket + 0.5) * LINEAR_WIDTH_MICROS / 1_000_000
    low = LINEAR_LIMIT_MICROS / 1_000_000 * GROWTH ** (bucket - LINEAR_BUCKETS)
    return low * 2 * GROWTH / (1 + GROWTH)


def estimate(bucket: int, count: int, rank: int, low: float, high: float) -> float:
    """The duration of the sample at 0-based `rank` among the `count` a bucket holds.

    The first is the smallest the bucket counted and the last the largest, exactly; any other
    is the bucket's representative, clamped to that range (which only brings it closer).
    """
    if rank == 0:
        return low
    if rank == count - 1:
        return high
    return min(max(representative(bucket), low), high)
