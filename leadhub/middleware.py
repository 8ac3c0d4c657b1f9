"""Shows every page in the viewer's own time zone (their preference, else settings.TIME_ZONE)."""

import zoneinfo

from django.utils import timezone

from .models import UserPreference

SESSION_KEY = "leadhub_time_zone"


def zone_for(user):
    """The user's chosen zone name, "" when they chose none (the site's zone)."""
    return UserPreference.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""


def remember_zone(request, name):
    request.session[SESSION_KEY] = name


def remember_zone_at_sign_in(sender, request, user, **kwargs):
    """Read the zone once, when the session starts, so pages never query for it."""
    if request is not None and hasattr(request, "session"):
        remember_zone(request, zone_for(user))


class TimeZoneMiddleware:
    """Activates the signed-in user's zone for the request. The choice is kept in the session
    (read at sign-in, refreshed when the user changes it), so pages cost no extra query; a
    session that started without it reads it once."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = ""
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            name = request.session.get(SESSION_KEY)
            if name is None:
                name = zone_for(user)
                remember_zone(request, name)
        try:
            if name:
                timezone.activate(zoneinfo.ZoneInfo(name))
            else:
                timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
