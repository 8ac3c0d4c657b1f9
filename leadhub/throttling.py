"""API throttling: per token (its user), at rates read from the settings on each request."""

from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


class _RatesFromSettings:
    """DRF reads the rates once, when the class is defined; these read them per request, so a
    changed setting (an environment, a test) takes effect."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class TokenRateThrottle(_RatesFromSettings, UserRateThrottle):
    """Per token (its user) or signed-in user: API_THROTTLE_RATE requests per period (e.g. 3000/min)."""
