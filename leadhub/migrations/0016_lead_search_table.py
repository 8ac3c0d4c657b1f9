"""Lead search text in a table of its own (LeadSearch), off the lead row.

Every rescoring run updates every lead row, and every index of the lead table is written on
each such update: the trigram GIN index over the lead's text (lead_search_trgm) doubled a
rescoring run's time. The text now lives in leadhub_leadsearch, one row per lead, written only
when the facts it holds change (leadhub.search.refresh_search_text); it also holds the company's
name and the lead's external ids, and copes with leads without an email.

Non-atomic: the table is filled in id ranges (each its own transaction), then its GIN index is
built and the old one dropped concurrently, so ingest and the pages go on meanwhile. Depends on
0015_lead_attributes_index (and on 0013 for leadhub_fold() and pg_trgm).
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import connection, migrations, models
from django.db.models import F

from leadhub.migration_operations import AddIndexConcurrently, RemoveIndexConcurrently

# The fold table as of this migration (leadhub.search.FOLD_FROM / FOLD_TO), for SQLite's backfill.
FOLD_FROM = "àáâãäåāăąçćčďđèéêëēėęěìíîïīįıľłńňñòóôõöøōőŕřśšşťţùúûüūůűųýÿźżž"
FOLD_TO = "aaaaaaaaacccddeeeeeeeeiiiiiiillnnnoooooooorrsssttuuuuuuuuyyzzz"
CHUNK = 50_000

# The same text as leadhub.search.REFRESH_SQL, as of this migration.
BACKFILL = """
INSERT INTO leadhub_leadsearch (lead_id, document, name, email)
SELECT l.id,
       leadhub_fold(concat_ws(' ', '', NULLIF(l.first_name, ''), NULLIF(l.last_name, ''), NULLIF(l.email, ''),
                              NULLIF(l.phone, ''), NULLIF(c.name, ''),
                              (SELECT string_agg(x.external_id, ' ' ORDER BY x.source, x.id)
                                 FROM leadhub_leadexternalid x WHERE x.lead_id = l.id AND x.external_id <> ''))),
       leadhub_fold(btrim(l.first_name || ' ' || l.last_name)),
       leadhub_fold(COALESCE(l.email, ''))
  FROM leadhub_lead l LEFT JOIN leadhub_company c ON c.id = l.company_id
 WHERE l.id >= %s AND l.id < %s
 ORDER BY l.id
    ON CONFLICT (lead_id) DO NOTHING
"""


def backfill(apps, schema_editor):
    conn = schema_editor.connection if schema_editor is not None else connection
    Lead = apps.get_model("leadhub", "Lead")
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute("SELECT min(id), max(id) FROM leadhub_lead")
            low, high = cursor.fetchone()
            if low is None:
                return
            for start in range(low, high + 1, CHUNK):
                cursor.execute(BACKFILL, [start, start + CHUNK])
        return
    LeadSearch = apps.get_model("leadhub", "LeadSearch")
    LeadExternalId = apps.get_model("leadhub", "LeadExternalId")
    table = str.maketrans(FOLD_FROM, FOLD_TO)

    def fold(text):
        return (text or "").lower().translate(table)

    external = {}
    for lead_id, value in (
        LeadExternalId.objects.exclude(external_id="").order_by("source", "id").values_list("lead_id", "external_id")
    ):
        external.setdefault(lead_id, []).append(value)
    rows = []
    for lead in Lead.objects.select_related("company").iterator():
        parts = [lead.first_name, lead.last_name, lead.email, lead.phone, lead.company.name if lead.company else ""]
        rows.append(
            LeadSearch(
                lead_id=lead.pk,
                document=fold(" " + " ".join(p for p in [*parts, *external.get(lead.pk, [])] if p)),
                name=fold(f"{lead.first_name} {lead.last_name}".strip()),
                email=fold(lead.email),
            )
        )
    LeadSearch.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("leadhub", "0015_lead_attributes_index")]

    operations = [
        migrations.CreateModel(
            name="LeadSearch",
            fields=[
                (
                    "lead",
                    models.OneToOneField(
                        on_delete=models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search_text",
                        serialize=False,
                        to="leadhub.lead",
                    ),
                ),
                ("document", models.TextField()),
                ("name", models.TextField(blank=True)),
                ("email", models.TextField(blank=True)),
            ],
            options={"verbose_name": "lead search text"},
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        AddIndexConcurrently(
            model_name="leadsearch",
            index=GinIndex(OpClass(F("document"), name="gin_trgm_ops"), name="leadsearch_document_trgm"),
        ),
        AddIndexConcurrently(
            model_name="leadsearch",
            index=models.Index(fields=["name"], opclasses=["text_pattern_ops"], name="leadsearch_name_prefix"),
        ),
        AddIndexConcurrently(
            model_name="leadsearch",
            index=models.Index(fields=["email"], opclasses=["text_pattern_ops"], name="leadsearch_email_prefix"),
        ),
        RemoveIndexConcurrently(model_name="lead", name="lead_search_trgm"),
    ]
