"""What a person chose for how pages are shown to them."""

from django.conf import settings
from django.db import models


def time_zone_choices():
    import zoneinfo

    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class UserPreference(models.Model):
    """What a person chose for how pages are shown to them (edited on /account/)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Times on every page are shown in this zone; empty means the site's zone.",
    )

    def __str__(self):
        return f"Preferences of {self.user}"
