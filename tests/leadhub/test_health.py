import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_healthz_reports_ok_without_signing_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


def test_healthz_reports_database_failure_with_503(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "database unreachable" in response.json()["checks"]["database"]


def healthz_with_broker(client, settings, broker_url):
    """GET /healthz as a process configured with this broker (tasks not eager)."""
    from leadhub.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    original = app.conf.broker_url
    app.conf.broker_url = broker_url
    try:
        return client.get("/healthz")
    finally:
        app.conf.broker_url = original


def test_healthz_reports_unreachable_broker_with_503(client, settings):
    response = healthz_with_broker(client, settings, "redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error")


@pytest.mark.parametrize(
    "broker_url", ["redis://127.0.0.1:6379/0", "amqp://guest:guest@127.0.0.1:5672//"], ids=["redis", "rabbitmq"]
)
def test_healthz_reports_reachable_broker(client, settings, broker_url):
    response = healthz_with_broker(client, settings, broker_url)
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["broker"] == "ok"


def test_production_settings_pass_deploy_checks():
    import os
    import secrets
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}  # set by the browser tests
    env.update(DEBUG="0", DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_ALLOWED_HOSTS="leadhub.example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    result = subprocess.run([sys.executable, "manage.py", "check"], capture_output=True, text=True, env={**env, "DEBUG": "0"})
    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY when DEBUG is off." in result.stderr
