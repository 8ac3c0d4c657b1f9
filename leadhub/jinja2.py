"""The Jinja2 environment of the pages SDRs reload all day (see TEMPLATES in settings.py)."""

from django.templatetags.static import static
from django.urls import reverse
from django_htmx.jinja import htmx_script
from jinja2 import Environment

from .links import link


def url(name, *args):
    return reverse(name, args=args) if args else link(name)


def environment(**options):
    env = Environment(**options)
    env.globals.update(static=static, url=url, htmx_script=htmx_script)
    return env
