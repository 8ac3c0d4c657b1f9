"""Site links without arguments, reversed once per URL configuration and script prefix: every
page's layout and navigation print the same few, and reverse() is slow next to a lookup."""

from django.urls import get_script_prefix, get_urlconf, reverse

_LINKS = {}


def link(name):
    key = (get_urlconf(), get_script_prefix(), name)
    try:
        return _LINKS[key]
    except KeyError:
        _LINKS[key] = reverse(name)
        return _LINKS[key]
