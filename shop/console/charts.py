"""Server-rendered SVG charts: geometry computed here, drawn by a template."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    peak: int
    first_label: str
    last_label: str


def bar_chart(points: list[tuple[str, int]], *, width: int = 600, height: int = 120) -> BarChart:
    """Lay out one bar per (label, value) point, scaled to the highest value."""
    peak = max((value for _, value in points), default=0)
    slot = width / max(len(points), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        bar_height = (value / peak) * (height - 4) if peak else 0
        bars.append(
            Bar(
                x=round(index * slot + 1, 2),
                y=round(height - bar_height, 2),
                width=round(max(slot - 2, 1), 2),
                height=round(bar_height, 2),
                value=value,
                label=label,
            )
        )
    return BarChart(
        bars=bars,
        width=width,
        height=height,
        peak=peak,
        first_label=points[0][0] if points else "",
        last_label=points[-1][0] if points else "",
    )
