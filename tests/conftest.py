import os

import pytest

# pytest-playwright keeps an asyncio loop in the main thread; Django's database set-up
# must still be allowed to run there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.contrib.auth.models import Group  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from leadhub import roles  # noqa: E402
from tests.factories import UserFactory  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
        ],
    }


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from leadhub.celery import app

    app.conf.task_always_eager = True


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
