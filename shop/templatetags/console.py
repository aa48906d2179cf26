"""Template filters of the staff console."""

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """Show a duration compactly: 840 ms, 3.2 s, 4 min 05 s, 2 h 10 min."""
    if value is None:
        return ""
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


@register.filter
def last_line(text: str) -> str:
    """Return the last non-empty line of a traceback: the error itself."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


@register.filter
def duration_to(start, end) -> str:
    """Show the time from start to end (two datetimes) as a duration."""
    if start is None or end is None:
        return ""
    return duration(end - start)
