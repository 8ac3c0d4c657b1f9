from django.apps import AppConfig


class HandoffConfig(AppConfig):
    name = "handoff"
    verbose_name = "Sales handoff"

    def ready(self):
        # Imported here, not at the top: models must not load before the app registry is ready.
        from . import receivers

        receivers.register()
