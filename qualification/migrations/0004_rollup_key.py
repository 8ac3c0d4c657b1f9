from django.db import connection, migrations, models

ROLLUP = "qualification_activityrollup"


def _execute(schema_editor, sql):
    # Both steps are idempotent, and may be re-run outside a migration (without a schema editor).
    if schema_editor is not None:
        schema_editor.execute(sql)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql)


def _vendor(schema_editor):
    return (schema_editor.connection if schema_editor is not None else connection).vendor


def merge_duplicate_rows(apps, schema_editor):
    """Rows with the same (lead, day, kind, minutes) become one with their summed count, so the
    unique key can be built. Ingest kept them unique under lead locks; this is the safety net."""
    if _vendor(schema_editor) != "postgresql":
        return
    _execute(
        schema_editor,
        f"WITH dup AS (SELECT lead_id, day, kind, minutes, MIN(id) AS keep, SUM(n) AS total FROM {ROLLUP}"
        " GROUP BY lead_id, day, kind, minutes HAVING COUNT(*) > 1),"
        f" kept AS (UPDATE {ROLLUP} r SET n = dup.total FROM dup WHERE r.id = dup.keep RETURNING r.id)"
        f" DELETE FROM {ROLLUP} r USING dup WHERE r.lead_id = dup.lead_id AND r.day = dup.day AND r.kind = dup.kind"
        " AND r.minutes IS NOT DISTINCT FROM dup.minutes AND r.id <> dup.keep"
    )


def sqlite_lead_index(apps, schema_editor):
    # SQLite builds no unique key with NULLS NOT DISTINCT or INCLUDE; rescoring still needs a
    # way to a lead's rollups.
    if _vendor(schema_editor) == "sqlite":
        _execute(schema_editor, f"CREATE INDEX IF NOT EXISTS rollup_lead_day ON {ROLLUP} (lead_id, day)")


def drop_sqlite_lead_index(apps, schema_editor):
    if _vendor(schema_editor) == "sqlite":
        _execute(schema_editor, "DROP INDEX IF EXISTS rollup_lead_day")


class Migration(migrations.Migration):

    dependencies = [
        ("qualification", "0003_rollup_covering_index"),
    ]

    # The new key first, so lookups by lead always have an index.
    operations = [
        migrations.RunPython(merge_duplicate_rows, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="activityrollup",
            constraint=models.UniqueConstraint(
                fields=("lead", "day", "kind", "minutes"), include=("n",), nulls_distinct=False, name="rollup_key"
            ),
        ),
        migrations.RunPython(sqlite_lead_index, drop_sqlite_lead_index),
        migrations.RemoveIndex(
            model_name="activityrollup",
            name="rollup_lead_day_covering",
        ),
    ]
