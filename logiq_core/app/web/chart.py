"""The operators' charts: hourly error rate and p95 response time per feature, as SVG text.

Built on the server from the same stored per-minute metrics ``--monitor`` reads, with no
JavaScript. Each chart has a ``<title>`` and ``<desc>`` for screen readers, and the page shows
the same figures in a table beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape

from logiq_core.framework.rollout.metrics import histograms_of, percentile
from logiq_core.framework.rollout.models import MetricBucketDoc

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 220, 56, 28, 16, 28


@dataclass
class Series:
    feature: str
    hours: list[datetime]
    error_rate: list[float | None] = field(default_factory=list)  # % per hour, None: no invocations
    p95_ms: list[float | None] = field(default_factory=list)


async def hourly_series(features: list[str], now: datetime | None = None, hours: int = 24) -> list[Series]:
    """Per feature, the last ``hours`` whole hours (oldest first) of error rate and p95."""
    now = now or datetime.now(UTC)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    slots = [start + timedelta(hours=i) for i in range(hours)]
    tallies: dict[str, list[tuple[int, int, dict[int, int]]]] = {
        name: [(0, 0, {}) for _ in slots] for name in features
    }
    collection = MetricBucketDoc.get_pymongo_collection()
    query = {"feature": {"$in": features}, "minute": {"$gte": start}}
    async for document in collection.find(query):
        minute = document.get("minute")
        if not isinstance(minute, datetime):
            continue
        minute = minute if minute.tzinfo else minute.replace(tzinfo=UTC)
        index = int((minute - start).total_seconds() // 3600)
        name = str(document.get("feature"))
        if name not in tallies or not 0 <= index < hours:
            continue
        invocations, errors, histogram = tallies[name][index]
        response, _ = histograms_of(document)
        for bucket, count in response.items():
            histogram[bucket] = histogram.get(bucket, 0) + count
        tallies[name][index] = (
            invocations + int(document.get("invocations", 0)),
            errors + int(document.get("errors", 0)),
            histogram,
        )
    result = []
    for name in features:
        series = Series(name, slots)
        for invocations, errors, histogram in tallies[name]:
            series.error_rate.append(100.0 * errors / invocations if invocations else None)
            series.p95_ms.append(percentile(histogram, 0.95))
        result.append(series)
    return result


def _nice_top(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = float(10 ** len(str(int(value))))
    for step in (0.1, 0.2, 0.25, 0.5, 1.0):
        if value <= magnitude * step:
            return magnitude * step
    return magnitude


def line_chart(title: str, unit: str, series: list[Series], values: str) -> str:
    """One SVG chart: a line per feature of ``values`` (``error_rate`` or ``p95_ms``)."""
    points = [[v for v in getattr(s, values)] for s in series]
    known = [v for row in points for v in row if v is not None]
    top = _nice_top(max(known, default=0.0))
    hours = len(series[0].hours) if series else 24
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + plot_w * (i / max(1, hours - 1))

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    summary = "; ".join(
        f"{s.feature}: latest {row[-1]:.2f} {unit}"
        if row and row[-1] is not None
        else f"{s.feature}: no data"
        for s, row in zip(series, points, strict=True)
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="chart" aria-labelledby="t-{values} d-{values}">',
        f'<title id="t-{values}">{escape(title)}</title>',
        f'<desc id="d-{values}">{escape(summary)} (per hour, last {hours} h)</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = top * fraction
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{LEFT - 4}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11">'
            f"{value:g}{escape(unit)}</text>"
        )
    if series:
        for i in (0, hours // 2, hours - 1):
            label = series[0].hours[i].strftime("%H:00")
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11">{label}</text>'
            )
    for n, (s, row) in enumerate(zip(series, points, strict=True)):
        colour = COLOURS[n % len(COLOURS)]
        runs: list[list[str]] = [[]]
        for i, v in enumerate(row):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            elif run:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{" ".join(run)}"><title>{escape(s.feature)}</title></polyline>'
                )
    parts.append("</svg>")
    return "".join(parts)


def legend(series: list[Series]) -> list[tuple[str, str]]:
    return [(s.feature, COLOURS[n % len(COLOURS)]) for n, s in enumerate(series)]
