"""Template helpers of the messaging console."""

from django import template

register = template.Library()


@register.filter
def get_field(form, name: str):
    """``form|get_field:name``: the bound field of a field added at run time."""
    return form[name]


@register.filter
def state_color(state: str) -> str:
    return {"running": "primary", "paused": "warning", "done": "success", "failed": "danger",
            "cancelled": "secondary", "scheduled": "info"}.get(state, "light")


@register.filter
def duration_short(value) -> str:
    """A timedelta as ``1h 02m 03s`` / ``2m 03s`` / ``4.2s``."""
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {sec:02d}s" if hours else f"{minutes}m {sec:02d}s"
