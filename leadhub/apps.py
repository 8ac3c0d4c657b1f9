from django.apps import AppConfig


class LeadhubConfig(AppConfig):
    name = "leadhub"
    verbose_name = "Lead records"
