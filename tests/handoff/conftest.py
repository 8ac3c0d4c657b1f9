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


def restore_seed_data():
    """Re-run the data migrations' seeding (role groups, rejection reasons, SLA policy).

    Transactional tests (threads, live server) flush the database afterwards, and with it
    what migrations wrote; serialized_rollback clashes with content types recreated by the
    flush, so the seeding runs again here, with the historical models migrations use."""
    import importlib

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    apps = MigrationExecutor(connection).loader.project_state().apps
    importlib.import_module("leadhub.migrations.0002_roles").create_roles(apps, None)
    importlib.import_module("handoff.migrations.0002_reasons_policy_roles").seed(apps, None)
    importlib.import_module("handoff.migrations.0004_tiers_dashboard_roles").seed(apps, None)


@pytest.fixture
def seeded_transactional_db(transactional_db):
    restore_seed_data()
