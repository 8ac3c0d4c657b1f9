"""One way to show people, money, numbers, dates and choice values on every page.

Django templates use them as filters (`{% load formatting %}`: person, money, number, day,
moment, zone_name, label) and Jinja2 templates as filters of the same names (leadhub/jinja2.py).
Dates and times are shown in the viewer's time zone (activated per request by
leadhub.middleware.TimeZoneMiddleware) with the zone named.
"""

import datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone

DASH = "—"


def person(user, empty=DASH):
    """A person by full name; the username only when the full name is empty."""
    if user is None or user == "":
        return empty
    full = (user.get_full_name() or "").strip() if hasattr(user, "get_full_name") else ""
    return plain(full or getattr(user, "username", "")) or empty


def _decimal(value):
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None


def number(value, places=0):
    """1234567.891 -> "1,234,568"; number(x, 1) -> "1,234,567.9"; None -> "—"."""
    amount = _decimal(value)
    if amount is None:
        return DASH
    return f"{amount:,.{int(places)}f}"


def money(value, currency="USD"):
    """Whole amounts without cents ("$42,000"), others with two decimals ("$1,234.50")."""
    amount = _decimal(value)
    if amount is None:
        return DASH
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency)
    places = 0 if amount == amount.to_integral_value() else 2
    text = f"{abs(amount):,.{places}f}"
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def _local(value):
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


def day(value):
    """A date: "Dec 5, 2026" (a datetime is taken in the viewer's time zone first)."""
    if not value:
        return DASH
    value = _local(value)
    return f"{value:%b} {value.day}, {value.year}"


def zone_name(value=None):
    """The abbreviation of the viewer's zone at that moment ("CET", "UTC"), or the zone's name
    where it has only an offset for an abbreviation."""
    current = timezone.get_current_timezone()
    abbreviation = (_local(value) if value else timezone.localtime()).tzname() or ""
    if abbreviation.startswith(("+", "-")):
        return str(current)
    return abbreviation


def moment(value):
    """A date and time in the viewer's zone, zone named: "Dec 5, 2026 14:30 CET"."""
    if not value:
        return DASH
    if not isinstance(value, datetime.datetime):
        return day(value)
    local = _local(value)
    text = f"{day(local)} {local:%H:%M}"
    return f"{text} {zone_name(value)}" if timezone.is_aware(value) else text


def label(value, choices):
    """A stored choice value by its label: label("professional_services", Industry.choices)."""
    if value in (None, ""):
        return DASH
    return str(dict(choices).get(value, humanize_value(value)))


def humanize_value(value):
    """A raw machine value a person may still see ("professional_services") as words."""
    text = str(value)
    if "_" in text and " " not in text and text == text.lower():
        return text.replace("_", " ").capitalize()
    return text


# Explicit embedding, override and isolate controls (LRE RLE PDF LRO RLO, LRI RLI FSI PDI). Right-to-left
# text needs none of them (the bidi algorithm orders Arabic or Hebrew by itself); inside a name or a file
# name they only serve to disguise it ("\u202egnp.exe" reads "exe.png"). <bdi> keeps text from spilling
# into what follows it; this takes the controls out of the text itself.
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def plain(value):
    """The text as typed, without bidirectional control characters (for display only)."""
    if value is None:
        return ""
    return str(value).translate(BIDI_CONTROLS)


FILTERS = {
    "plain": plain,
    "person": person,
    "money": money,
    "number": number,
    "day": day,
    "moment": moment,
    "zone_name": zone_name,
    "label": label,
    "humanize_value": humanize_value,
}


def job_state(job, *, failed):
    """A background job's status for the admin: "Stalled since …" when its heartbeat stopped
    (the sweeper resumes it), a failure with its reason (cut short, whole in the title), or
    the plain status. `failed`: whether the job's status is its "failed" value."""
    from django.utils.html import format_html
    from django.utils.text import Truncator
    from django.utils.timesince import timesince

    stalled = job.stalled_since
    if stalled:
        return format_html(
            '<strong class="errornote-inline">Stalled since {}</strong> ({} ago; resumed automatically)',
            f"{timezone.localtime(stalled):%Y-%m-%d %H:%M}",
            timesince(stalled),
        )
    if failed and job.error:
        return format_html('{}: <span title="{}">{}</span>', job.get_status_display(), job.error, Truncator(job.error).chars(120))
    return job.get_status_display()
