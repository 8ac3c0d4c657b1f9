from django.apps import AppConfig


class LeadhubConfig(AppConfig):
    name = "leadhub"
    verbose_name = "Lead records"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .middleware import remember_zone_at_sign_in

        user_logged_in.connect(remember_zone_at_sign_in, dispatch_uid="leadhub-time-zone-at-sign-in")
