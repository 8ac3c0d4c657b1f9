"""{% layout "topbar" %}, {% layout "pagination" page=page query=query %}: the parts of the page
shared with Jinja2 pages (templates/jinja2/layout/)."""

from django import template
from django.template import engines
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def layout(context, part, **values):
    values = {
        "user": context.get("user"),
        "nav_items": context.get("nav_items", []),
        "messages": context.get("messages"),
        "csrf_token": context.get("csrf_token", ""),
        **values,
    }
    return mark_safe(engines["jinja2"].env.get_template(f"layout/{part}.html").render(values))
