"""Lead search finds leads without an email (known by phone or another system's id): the search
text treats a NULL email (or any NULL part) as empty instead of making the whole text NULL.

For every lead with an email the text is the same as before, so the expression index
lead_search_trgm stays valid; only entries of leads without an email (possible since 0014) were
NULL, and the index is rebuilt concurrently when such leads exist. PostgreSQL only (SQLite
registers the Python twin, leadhub.search.lead_search_text, per connection).
Depends on 0016_marketing_api_outcomes_lead_fields_roles (for the order only)."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION leadhub_lead_search_text(text, text, text, text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT leadhub_fold(' ' || coalesce($1, '') || ' ' || coalesce($2, '') || ' ' || coalesce($3, '') || ' '
                              || coalesce($4, '')) $$;
"""
PREVIOUS = """
CREATE OR REPLACE FUNCTION leadhub_lead_search_text(text, text, text, text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT leadhub_fold(' ' || $1 || ' ' || $2 || ' ' || $3 || ' ' || $4) $$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FUNCTION)
        cursor.execute("SELECT EXISTS (SELECT 1 FROM leadhub_lead WHERE email IS NULL)")
        if cursor.fetchone()[0]:
            cursor.execute("REINDEX INDEX CONCURRENTLY lead_search_trgm")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS)


class Migration(migrations.Migration):
    atomic = False  # REINDEX CONCURRENTLY cannot run in a transaction
    dependencies = [("leadhub", "0016_marketing_api_outcomes_lead_fields_roles")]
    operations = [migrations.RunPython(forwards, backwards)]
