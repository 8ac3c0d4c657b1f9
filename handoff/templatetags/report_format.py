"""Number formats of the dashboards: minutes as hours, percentages, days; "–" for no data."""

from django import template

register = template.Library()
DASH = "–"


@register.filter
def hours(minutes):
    if minutes is None:
        return DASH
    if minutes < 60:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


@register.filter
def pct(value):
    return DASH if value is None else f"{value:.1f}%"


@register.filter
def days(value):
    return DASH if value is None else f"{value:.1f} d"
