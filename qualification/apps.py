from django.apps import AppConfig


class QualificationConfig(AppConfig):
    name = "qualification"
    verbose_name = "Scoring"

    def ready(self):
        # Imported here, not at the top: models must not load before the app registry is ready.
        from . import receivers

        receivers.register()
