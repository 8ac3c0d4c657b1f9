"""Lead search (pg_trgm over folded text) and the lead list's keyset sorts.

Non-atomic: the indexes are built with CREATE INDEX CONCURRENTLY on PostgreSQL, so ingest and
the pages keep writing and reading the lead table while they build (minutes at a million leads).
The folding functions are IMMUTABLE SQL functions (translate() and lower() only), which the
planner inlines, so the index expressions and the queries' expressions are the same tree.
ASCII text (most names and every usual email) skips translate(), which costs about 20 µs a
call: the index rechecks and ranks fold every candidate row.
"""

from datetime import UTC, datetime

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import TrigramExtension
from django.db import connection, migrations, models
from django.db.models import F, Func, TextField, Value
from django.db.models.functions import Coalesce, Upper

from leadhub.migration_operations import AddIndexConcurrently, RemoveIndexConcurrently

# The accent table as of this migration (leadhub.search.FOLD_FROM / FOLD_TO; a test holds them equal).
FOLD_FROM = "àáâãäåāăąçćčďđèéêëēėęěìíîïīįıľłńňñòóôõöøōőŕřśšşťţùúûüūůűųýÿźżž"
FOLD_TO = "aaaaaaaaacccddeeeeeeeeiiiiiiillnnnoooooooorrsssttuuuuuuuuyyzzz"

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION leadhub_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN octet_length($1) = length($1) THEN lower($1)
                      ELSE translate(lower($1), '{FOLD_FROM}', '{FOLD_TO}') END $$;
CREATE OR REPLACE FUNCTION leadhub_lead_search_text(text, text, text, text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT leadhub_fold(' ' || $1 || ' ' || $2 || ' ' || $3 || ' ' || $4) $$;
CREATE OR REPLACE FUNCTION leadhub_full_name(text, text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT leadhub_fold($1 || ' ' || $2) $$;
CREATE OR REPLACE FUNCTION leadhub_company_search_text(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT leadhub_fold(' ' || $1) $$;
"""
DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS leadhub_company_search_text(text);
DROP FUNCTION IF EXISTS leadhub_full_name(text, text);
DROP FUNCTION IF EXISTS leadhub_lead_search_text(text, text, text, text);
DROP FUNCTION IF EXISTS leadhub_fold(text);
"""
# "Never active" sorts as the oldest activity, so the sort key has no NULLs (one keyset, one index).
NEVER = datetime(1, 1, 1, tzinfo=UTC)


def _run(schema_editor, sql):
    # schema_editor is None when the test suite replays data steps after a flush (idempotent).
    conn = schema_editor.connection if schema_editor is not None else connection
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(sql)


def create_functions(apps, schema_editor):
    _run(schema_editor, FUNCTIONS)


def drop_functions(apps, schema_editor):
    _run(schema_editor, DROP_FUNCTIONS)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("leadhub", "0012_move_pendingrescore_to_qualification"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_functions, drop_functions, elidable=False),
        AddIndexConcurrently(
            model_name="lead",
            index=GinIndex(OpClass(Func(F("first_name"), F("last_name"), F("email"), F("phone"),
                                        function="leadhub_lead_search_text", output_field=TextField()),
                                   name="gin_trgm_ops"), name="lead_search_trgm"),
        ),
        AddIndexConcurrently(
            model_name="company",
            index=GinIndex(OpClass(Func(F("name"), function="leadhub_company_search_text", output_field=TextField()),
                                   name="gin_trgm_ops"), name="company_search_trgm"),
        ),
        AddIndexConcurrently(
            model_name="lead", index=models.Index(fields=["last_name", "id"], name="lead_name_id"),
        ),
        AddIndexConcurrently(
            model_name="lead",
            index=models.Index(Coalesce("last_activity_at", Value(NEVER)), F("id"), name="lead_last_activity_id"),
        ),
        # The sorts' tie-breaker (id) joins the indexes that served the sorts before: as many
        # indexes to write as before, a few bytes more per entry.
        *[op for old, new in [
            ("lead_total_score", models.Index(fields=["total_score", "id"], name="lead_score_id")),
            ("lead_created", models.Index(fields=["created_at", "id"], name="lead_created_id")),
            ("lead_stage_created", models.Index(fields=["stage", "created_at", "id"], name="lead_stage_created_id")),
            ("lead_source_created", models.Index(fields=["source", "created_at", "id"], name="lead_source_created_id")),
            ("lead_campaign", models.Index(Upper("campaign"), F("campaign"), name="lead_campaign_upper")),
        ] for op in (AddIndexConcurrently(model_name="lead", index=new),
                     RemoveIndexConcurrently(model_name="lead", name=old))],
    ]
