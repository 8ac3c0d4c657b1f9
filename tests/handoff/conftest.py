import pytest

from tests.conftest import make_user
from tests.handoff.factories import SDRProfileFactory


@pytest.fixture
def third_sdr(db):
    from leadhub import roles

    return make_user(roles.SDR, username="sdr-third")


@pytest.fixture
def routing(sdr, other_sdr):
    """Both SDRs available for round-robin (the owner first: created first, never assigned)."""
    return [SDRProfileFactory(user=sdr), SDRProfileFactory(user=other_sdr)]


@pytest.fixture
def seeded_transactional_db(transactional_db):
    """A transactional test with the data migrations' rows (tests/conftest.py restores them after every flush)."""
    return transactional_db
