"""Fault tests: a real Celery worker (a subprocess on this test database) and a private
redis-server on a free port, so killing either touches nothing anyone else uses."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout, message):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{message} (waited {timeout} s)")


class PrivateRedis:
    def __init__(self, directory):
        self.port = free_port()
        self.directory = directory
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        wait_until(lambda: _pings(redis.Redis.from_url(self.url)), 10, "the private redis-server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _pings(client):
    try:
        return client.ping()
    except Exception:  # noqa: BLE001 - not up yet
        return False


class Worker:
    """`celery worker` as serve.sh runs it, against the test database and the private broker."""

    def __init__(self, broker_url, log_path, **env):
        name = connection.settings_dict["NAME"]
        user = connection.settings_dict.get("USER") or "postgres"
        host = connection.settings_dict.get("HOST") or "127.0.0.1"
        port = connection.settings_dict.get("PORT") or 5432
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{user}@{host}:{port}/{name}",
            "CELERY_BROKER_URL": broker_url,
            "DEBUG": "1",
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        self.log_path = log_path
        self.process = None

    def start(self):
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "leadhub",
                "worker",
                "-l",
                "info",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: "ready." in self.log() or self.process.poll() is not None, 30, "the worker did not start")
        assert self.process.poll() is None, self.log()

    def log(self):
        return Path(self.log_path).read_text() if Path(self.log_path).exists() else ""

    def kill(self):
        """SIGKILL the worker and its pool processes at once, as an out-of-memory kill would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def private_redis(tmp_path):
    if not shutil.which("redis-server"):
        pytest.fail("the fault tests need redis-server on PATH")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def publish_to(settings):
    """Point this process's Celery app at a broker (tasks not eager); restored afterwards."""
    from leadhub.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager

    def publish_to(url):
        settings.CELERY_TASK_ALWAYS_EAGER = False
        app.conf.broker_url, app.conf.task_always_eager = url, False
        app._pool = None
        app.amqp._producer_pool = None

    yield publish_to
    app.conf.broker_url, app.conf.task_always_eager = saved
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def workers(tmp_path):
    started = []

    def worker(broker_url, **env):
        w = Worker(broker_url, tmp_path / f"worker-{len(started)}.log", **env)
        started.append(w)
        return w

    yield worker
    for w in started:
        w.stop()
