"""{% load formatting %}: the shared formats of leadhub/formatting.py as template filters."""

from django import template

from leadhub import formatting

register = template.Library()

for _name, _function in formatting.FILTERS.items():
    register.filter(_name, _function)


@register.simple_tag
def now_moment():
    """The current moment as pages show it (in the viewer's zone, named)."""
    from django.utils import timezone

    return formatting.moment(timezone.now())
