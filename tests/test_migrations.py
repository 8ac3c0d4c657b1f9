"""Migrations that survive: a database at an older schema, with data, migrates forward to today's
and keeps its data, with the new columns filled as the migrations promise.

Each test moves this test database back to an older state with Django's MigrationExecutor,
writes rows with the models of that state (as the data was written then), migrates forward to
the latest migrations and reads the result with today's models. The database ends at the latest
state, as every other test expects (transactional: the flush afterwards empties it)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

# The schema of the previous release: every migration written since then is unapplied first.
PREVIOUS_RELEASE = [
    ("leadhub", "0009_ingest_without_lead_updates"),
    ("qualification", "0004_rollup_key"),
    ("handoff", "0011_handoffrule_drop_handoff_index"),
]

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)  # a Monday morning, inside the default business hours


def migrate_to_latest():
    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    assert not MigrationExecutor(connection).migration_plan(targets), "migrations left unapplied"


@pytest.fixture
def migrate_to():
    """Migrate this database to `targets` (app, migration) pairs; returns the models of that
    state. The database is back at the latest state afterwards, whatever the test did."""

    def migrate_to(targets):
        executor = MigrationExecutor(connection)
        executor.migrate(targets)
        executor.loader.build_graph()
        return executor.loader.project_state(targets).apps

    yield migrate_to
    migrate_to_latest()


def old_lead(apps, n, **fields):
    Lead = apps.get_model("leadhub", "Lead")
    return Lead.objects.create(
        email=f"lead{n}@northlabs.example",
        first_name=f"Ada{n}",
        last_name="Lovelace",
        source="inbound_form",
        campaign="website-demo-form",
        stage="mql",
        total_score=Decimal("82"),
        grade="A",
        created_at=T0 - timedelta(days=3),
        **fields,
    )


def old_user(apps, username, groups=()):
    User, Group = apps.get_model("auth", "User"), apps.get_model("auth", "Group")
    user = User.objects.create(username=username, password="!", first_name=username.title())
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


def old_handoff(apps, lead, **fields):
    Handoff = apps.get_model("handoff", "Handoff")
    return Handoff.objects.create(
        lead=lead,
        channel=lead.source,
        campaign=lead.campaign,
        score_at_handoff=lead.total_score,
        grade_at_handoff=lead.grade,
        created_at=T0,
        **fields,
    )


def rollup_rows():
    """Every row of the four handoff rollup tables, without ids, in a stable order."""
    from handoff import rollup

    return {
        model.__name__: sorted(
            tuple(sorted(row.items()))
            for row in model.objects.values(*(f.attname for f in model._meta.concrete_fields if f.name != "id"))
        )
        for model in rollup.models()
    }


def test_a_database_of_the_previous_release_migrates_forward_with_its_data(migrate_to):
    from handoff.models import Handoff
    from leadhub import roles
    from leadhub.models import Company, Lead, LeadImport
    from qualification.models import PendingRescore, RescoreRun

    apps = migrate_to(PREVIOUS_RELEASE)
    company = apps.get_model("leadhub", "Company").objects.create(
        domain="northlabs.example", name="North Labs", employee_count=420, annual_revenue=Decimal("52000000.00")
    )
    sdr = old_user(apps, "sam", [roles.SDR])
    manager = old_user(apps, "dana", [roles.SALES_MANAGER])
    on_time, reassigned, pooled = (old_lead(apps, n, company=company, owner=sdr) for n in range(3))
    first_due = T0 + timedelta(hours=4)
    old_handoff(apps, on_time, owner=sdr, assigned_at=T0, due_at=first_due, status="open")
    # Reassigned after its first deadline passed: the escalation step kept that first clock.
    moved = old_handoff(
        apps,
        reassigned,
        owner=sdr,
        assigned_at=T0 + timedelta(hours=5),
        due_at=T0 + timedelta(hours=9),
        status="accepted",
        first_decision_at=T0 + timedelta(hours=10),
        response_minutes=600,
    )
    tier = apps.get_model("handoff", "EscalationTier").objects.create(name="Back to the pool", action="return_to_pool")
    apps.get_model("handoff", "Escalation").objects.create(
        handoff=moved, tier=tier, due_at=first_due, owner=sdr, action="return_to_pool", at=first_due + timedelta(minutes=5)
    )
    old_handoff(apps, pooled, status="open")
    apps.get_model("leadhub", "PendingRescore").objects.create(lead=on_time, activity_at=T0)
    job = apps.get_model("leadhub", "LeadImport").objects.create(
        file="2026/11/leads.csv",
        original_name="leads.csv",
        size=120,
        encoding="utf-8",
        delimiter=",",
        header=["email"],
        sample=[["a@b.example"]],
        created_by=manager,
    )
    ScoringModel = apps.get_model("qualification", "ScoringModel")
    scoring = ScoringModel.objects.create(name="B2B default", mql_threshold=Decimal("65"), status="published", version=1)
    run = apps.get_model("qualification", "RescoreRun").objects.create(
        model=scoring, as_of=T0, total=3, done=3, status="done", active=None
    )

    migrate_to_latest()

    # The rows are all there, unchanged.
    assert Company.objects.get(domain="northlabs.example").annual_revenue == Decimal("52000000.00")
    assert list(Lead.objects.order_by("pk").values_list("email", "stage", "owner__username")) == [
        (f"lead{n}@northlabs.example", "mql", "sam") for n in range(3)
    ]
    assert LeadImport.objects.get(pk=job.pk).original_name == "leads.csv"
    # New columns: the first deadline is the current one, or the escalation's earlier clock; none without a deadline.
    first_due_at = dict(Handoff.objects.values_list("lead__email", "first_due_at"))
    assert first_due_at == {on_time.email: first_due, reassigned.email: first_due, pooled.email: None}
    assert LeadImport.objects.get(pk=job.pk).attempts == 0 and RescoreRun.objects.get(pk=run.pk).attempts == 0
    assert PendingRescore.objects.get(lead_id=on_time.pk).created_at is not None
    # Sales managers reach the admin (staff) with the SLA and SDR-profile permissions; SDRs do not.
    from django.contrib.auth.models import User

    assert User.objects.get(username="dana").is_staff and not User.objects.get(username="sam").is_staff
    assert User.objects.get(username="dana").has_perm("handoff.change_slapolicy")
    # The daily rollup was recounted against the first deadline: the reassigned handoff was late.
    from handoff.models import HandoffDailyRollup

    assert sum(HandoffDailyRollup.objects.values_list("late", flat=True)) == 1


@pytest.mark.django_db(transaction=False)
def test_the_rollup_data_migrations_fill_the_rollups_as_the_live_rebuild_does():
    """handoff 0006, 0010 and 0012 carry their own copy of the rollup SQL. Run with the models
    of their own migration state over today's tables (which still have every column those
    states knew), in order, they must give exactly what today's rollup.rebuild() gives."""
    import importlib

    from handoff import rollup
    from handoff.models import Handoff, HandoffRule, RejectionReason
    from tests.factories import LeadFactory, UserFactory

    sdr = UserFactory(username="sam")
    reasons = list(RejectionReason.objects.order_by("pk")[:2])
    for n in range(12):
        lead = LeadFactory(
            total_score=Decimal(60 + 4 * n),
            source=["paid", "inbound_form", "event"][n % 3],
            campaign=f"campaign-{n % 2}",
            grade="AB"[n % 2],
        )
        created = T0 - timedelta(days=n % 5, hours=n)
        decided = created + timedelta(minutes=45 + 40 * n)
        status = ["open", "accepted", "rejected"][n % 3]
        due = created + timedelta(hours=4) if n % 4 else None
        # Reassigned once: its first deadline (an hour in) passed before this one (0012 counts it late).
        first_due = created + timedelta(hours=1) if n == 1 else due
        handoff = Handoff.objects.create(
            lead=lead,
            channel=lead.source,
            campaign=lead.campaign,
            score_at_handoff=lead.total_score,
            grade_at_handoff=lead.grade,
            created_at=created,
            owner=sdr if n % 4 else None,
            assigned_at=created if n % 4 else None,
            due_at=due,
            first_due_at=first_due,
            status=status,
            first_decision_at=decided if status != "open" else None,
            response_minutes=int((decided - created).total_seconds() // 60) if status != "open" and n % 4 else None,
            rejection_reason=reasons[n % 2] if status == "rejected" else None,
            sql_at=decided + timedelta(days=2) if status == "accepted" and n % 2 else None,
        )
        for kind, rule_id, points in (("fit", 1, "15.0"), ("engagement", 2 + n % 2, "40.0")):
            HandoffRule.objects.create(
                handoff=handoff, rule_id=rule_id, kind=kind, label=f"Rule {rule_id}", points=Decimal(points)
            )

    loader = MigrationExecutor(connection).loader
    editor = connection.schema_editor(atomic=False)
    for name, function in (
        ("0006_daily_rollups", "build"),
        ("0010_rule_campaign_rollup", "build"),
        ("0012_first_due_at_and_sdr_profile_history", "recount_breaches"),
    ):
        module = importlib.import_module(f"handoff.migrations.{name}")
        getattr(module, function)(loader.project_state(("handoff", name)).apps, editor)
    migrated = rollup_rows()
    assert all(migrated.values()), "every rollup table has rows"
    rollup.rebuild()
    assert rollup_rows() == migrated


def test_an_index_added_concurrently_is_built_without_a_write_lock_on_postgresql():
    """The operation for new indexes on large tables (leadhub.migration_operations): on PostgreSQL
    CREATE/DROP INDEX CONCURRENTLY, outside a transaction; on SQLite a plain index. Either way the
    index exists afterwards and is gone after reversing."""
    from django.db import models
    from django.test.utils import CaptureQueriesContext

    from leadhub.migration_operations import AddIndexConcurrently

    operation = AddIndexConcurrently(model_name="lead", index=models.Index(fields=["phone"], name="lead_phone_probe"))
    before = MigrationExecutor(connection).loader.project_state()
    after = before.clone()
    operation.state_forwards("leadhub", after)

    def indexes():
        with connection.cursor() as cursor:
            return set(connection.introspection.get_constraints(cursor, "leadhub_lead"))

    with CaptureQueriesContext(connection) as queries, connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("leadhub", editor, before, after)
    assert "lead_phone_probe" in indexes()
    created = [q["sql"] for q in queries if "lead_phone_probe" in q["sql"]]
    concurrently = connection.vendor == "postgresql"
    assert created and all(("CONCURRENTLY" in sql) == concurrently for sql in created), created
    with connection.schema_editor(atomic=False) as editor:
        operation.database_backwards("leadhub", editor, after, before)
    assert "lead_phone_probe" not in indexes()
