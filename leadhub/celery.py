import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")

# Every task retries database conflicts (deadlocks, serialization failures): leadhub.db.
app = Celery("leadhub", task_cls="leadhub.db:ConflictRetryTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from leadhub.observability import connect_task_logging  # noqa: E402

connect_task_logging()
