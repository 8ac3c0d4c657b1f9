"""Small server-side SVG charts: no chart library, no script, nothing from a CDN.

Each function returns safe SVG markup with role="img", an aria-label summarising the chart
and a <title> per mark (the tooltip); the same numbers are always in a table next to it.
"""

from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 28, 18, 38
COLORS = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6"]


def _nice_max(value):
    if not value or value <= 0:
        return 1
    for power in range(-1, 9):
        for step in (2, 4, 8, 10):  # quarters of these are round: 0.5, 1, 2, 2.5
            top = step * 10**power
            if top >= value:
                return top
    return value


def _fmt(value):
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:,.1f}"


def _frame(label, body, legend=""):
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">{body}{legend}</svg>'
    )


EMPTY_TEXT = "No data for this period"


def _has_data(values, unit):
    """Rates are None where there was nothing to divide, so a 0 % is a real figure; a count of 0
    everywhere means nothing happened in the period."""
    known = [v for v in values if v is not None]
    if unit == "%":
        return bool(known)
    return any(known)


def _empty(label):
    return mark_safe(
        f'<div class="chart chart-empty" role="img" aria-label="{escape(label)}: {EMPTY_TEXT.lower()}">'
        f'<p class="muted">{EMPTY_TEXT}</p></div>'
    )


def _axis(top, unit):
    parts = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_fmt(value)}{escape(unit)}</text>')
    return "".join(parts)


def line_chart(label, labels, series, unit=""):
    """labels: x labels; series: [(name, [value or None, ...]), ...] drawn as lines."""
    values = [v for _, vs in series for v in vs if v is not None]
    if not _has_data(values, unit):
        return _empty(label)
    top = _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(labels), 1)
    step = plot_w / max(n - 1, 1)

    def xy(i, v):
        return LEFT + (step * i if n > 1 else plot_w / 2), TOP + plot_h - plot_h * (v / top)

    parts = [_axis(top, unit)]
    every = max(1, round(n / 8))
    for i, text in enumerate(labels):
        if i % every == 0 or i == n - 1:
            x, _ = xy(i, 0)
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" class="tick">{escape(text)}</text>')
    legend = []
    for s, (name, vs) in enumerate(series):
        color = COLORS[s % len(COLORS)]
        points = [xy(i, v) for i, v in enumerate(vs) if v is not None]
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2.5" class="series-{s}"/>')
        for i, v in enumerate(vs):
            if v is not None:
                x, y = xy(i, v)
                parts.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"><title>{escape(name)}, {escape(labels[i])}: '
                    f"{_fmt(v)}{escape(unit)}</title></circle>"
                )
        legend.append(
            f'<rect x="{LEFT + 8 + s * 150}" y="{HEIGHT - 12}" width="12" height="4" fill="{color}"/>'
            f'<text x="{LEFT + 24 + s * 150}" y="{HEIGHT - 7}" class="legend">{escape(name)}</text>'
        )
    return _frame(label, "".join(parts), "".join(legend))


def bar_chart(label, bars, unit="", color=COLORS[0], top=None):
    """bars: [(label, value), ...] as vertical bars with the value above each; a third item
    (e.g. "3 of 12", the sample behind a rate) is written under the bar's label."""
    if not _has_data([bar[1] for bar in bars], unit):
        return _empty(label)
    values = [bar[1] or 0 for bar in bars]
    top = top or _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(bars), 1)
    slot = plot_w / n
    width = min(64, slot * 0.7)
    parts = [_axis(top, unit)]
    every = max(1, round(n / 10))
    for i, (text, value, *sample) in enumerate(bars):
        v = value or 0
        h = plot_h * min(v / top, 1)
        x = LEFT + slot * i + (slot - width) / 2
        y = TOP + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}" rx="2" fill="{color}">'
            f"<title>{escape(text)}: {_fmt(value)}{escape(unit)}{escape(' (' + sample[0] + ')') if sample else ''}</title></rect>"
        )
        if n <= 14:
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" class="value">{_fmt(value)}{escape(unit)}</text>'
            )
        if i % every == 0:
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" class="tick">{escape(text)}</text>'
            )
            if sample:
                parts.append(
                    f'<text x="{x + width / 2:.1f}" y="{HEIGHT - BOTTOM + 30}" text-anchor="middle" class="tick sample">{escape(sample[0])}</text>'
                )
    return _frame(label, "".join(parts))
