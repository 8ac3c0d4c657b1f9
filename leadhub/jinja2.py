"""The Jinja2 environment of the pages SDRs reload all day (see TEMPLATES in settings.py)."""

import functools

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.templatetags.static import static
from django.urls import reverse
from django.utils.safestring import mark_safe
from django_htmx.jinja import htmx_script
from jinja2 import Environment

from . import formatting
from .links import link


def url(name, *args):
    return reverse(name, args=args) if args else link(name)


# Every page's layout prints the same few static URLs and the same htmx script tag; they depend
# on the settings only (a manifest storage reads its manifest once per process), so each is
# worked out once, again after a setting changes (tests).
@functools.lru_cache(maxsize=256)
def static_url(path):
    return static(path)


# htmx adds a <style> element for its loading indicators unless told not to; the
# Content-Security-Policy allows no inline styles (and no page uses those indicators).
HTMX_CONFIG = mark_safe("""<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>""")


@functools.lru_cache(maxsize=1)
def _htmx_script():
    return HTMX_CONFIG + htmx_script()


def htmx(**options):
    return HTMX_CONFIG + htmx_script(**options) if options else _htmx_script()


@receiver(setting_changed)
def _forget_static_urls(**kwargs):
    static_url.cache_clear()
    _htmx_script.cache_clear()


def environment(**options):
    env = Environment(**options)
    env.globals.update(static=static_url, url=url, htmx_script=htmx)
    env.filters.update(formatting.FILTERS)
    # A function, not `none|zone_name`: Jinja2 folds filters of constants when it compiles a
    # template, which would freeze the first viewer's zone into it.
    env.globals["current_zone"] = formatting.zone_name
    return env
