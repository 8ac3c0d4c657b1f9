import os

import pytest

# pytest-playwright keeps an asyncio loop in the main thread; Django's database set-up
# must still be allowed to run there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.contrib.auth.hashers import PBKDF2PasswordHasher  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from leadhub import roles  # noqa: E402
from leadhub.clock import running_as_of  # noqa: E402
from tests.clock import INSTANTS  # noqa: E402
from tests.factories import UserFactory  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PROJECT_APPS = ("leadhub", "qualification", "handoff")
_migration_data_steps = []


class OneIterationPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1


def restore_migration_data(**kwargs):
    """Re-run the project's data migrations (role groups, rejection reasons, SLA policy...).

    Transactional tests (browser tests with a live server, concurrency tests with threads)
    end with a flush that also deletes what data migrations wrote. Django emits post_migrate
    after that flush, so this runs then and every later test finds the seeded rows again.
    Each step runs with today's models (the tables it fills have today's schema); all steps are idempotent.
    """
    sender = kwargs.get("sender")
    if sender is not None and sender.label != PROJECT_APPS[-1]:
        return
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.operations import RunPython

    if not _migration_data_steps:
        loader = MigrationExecutor(connection).loader
        # The flushed tables have today's schema, so every step gets today's models.
        apps = loader.project_state().apps
        for key in loader.graph.leaf_nodes():
            for node in loader.graph.forwards_plan(key):
                if node[0] not in PROJECT_APPS or any(step[0] == node for step in _migration_data_steps):
                    continue
                for operation in loader.graph.nodes[node].operations:
                    if isinstance(operation, RunPython):
                        _migration_data_steps.append((node, operation.code, apps))
    # A schema editor that is never entered: the steps use only its connection.
    schema_editor = connection.schema_editor(atomic=False)
    for _node, code, apps in _migration_data_steps:
        code(apps, schema_editor)


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` race real connections; SQLite serialises every writer, so there
    they cannot race and are skipped. .ci/run runs the whole suite on PostgreSQL too."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: SQLite serialises every writer, so nothing would race")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


def pytest_configure(config):
    from django.conf import settings
    from django.db.models.signals import post_migrate

    # Passwords hashed at one PBKDF2 iteration: the suite creates and signs in hundreds of users,
    # and production's 1.5 million iterations cost about a second of CPU each. Same algorithm and
    # format, so stored hashes and sign-ins behave as in production.
    settings.PASSWORD_HASHERS = ["tests.conftest.OneIterationPBKDF2PasswordHasher"]

    # Once per flush: the last project app's post_migrate comes after contenttypes and auth have
    # recreated content types and permissions.
    post_migrate.connect(restore_migration_data, sender=None, dispatch_uid="tests-restore-migration-data")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(params=list(INSTANTS))
def fixed_instant(request):
    """The test runs once at each of tests/clock.py's instants: every clock read in this process
    (and its threads) starts there and runs on. Yields (name, the starting moment)."""
    with running_as_of(INSTANTS[request.param]) as now:
        yield request.param, now


@pytest.fixture(autouse=True)
def _fresh_edited_lists(monkeypatch):
    """Each test starts without the channel/industry/kind labels a process keeps
    (leadhub.models.taxonomy), and keeps what it reads for the whole test, so query counts do
    not depend on how slow the machine is. Saving or deleting an entry still forgets them."""
    from leadhub.models import taxonomy

    taxonomy.forget_entries()
    monkeypatch.setattr(taxonomy, "LABEL_SECONDS", 3600.0)


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from celery._state import _set_task_join_will_block

    from leadhub.celery import app

    app.conf.task_always_eager = True
    # No task runs around a test: .get() on an eager result may not block. Celery keeps this flag
    # per process, and a test earlier in the same worker process (the order differs under xdist)
    # could leave it set.
    _set_task_join_will_block(False)


def make_user(role=None, **kwargs):
    user = UserFactory(**kwargs)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def sdr(db):
    return make_user(roles.SDR, username="sdr-owner")


@pytest.fixture
def other_sdr(db):
    return make_user(roles.SDR, username="sdr-teammate")


@pytest.fixture
def marketer(db):
    return make_user(roles.MARKETING, username="marketer-user", is_staff=True)


@pytest.fixture
def manager(db):
    return make_user(roles.SALES_MANAGER, username="manager-user")


@pytest.fixture
def outsider(db):
    """Signed in, but in no role: may see nothing."""
    return make_user(None, username="outsider")


@pytest.fixture
def integration_user(db):
    return make_user(roles.INTEGRATION, username="integration")


def token_client(user):
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def integration_api(integration_user):
    return token_client(integration_user)
