"""Django's LOGGING for leadhub: one line per request and per task (leadhub.observability), as
key=value text or, with LOG_FORMAT=json, JSON lines. Plain data, importable from settings."""


def logging_config(*, json: bool, level: str, request_level: str) -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "keyvalue": {"()": "leadhub.observability.KeyValueFormatter"},
            "json": {"()": "leadhub.observability.JsonFormatter"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json" if json else "keyvalue"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # The request line replaces Django's own per-request warnings.
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "WARNING"},
            "leadhub.request": {"level": request_level},
        },
    }
