"""Migration operations for indexes on large tables (leads, activities, handoffs, stage changes,
rollups): a plain CREATE INDEX locks the table against writes while it builds, minutes at a
million rows. docs/architecture.md ("Conventions") says when to use these.

    from leadhub.migration_operations import AddIndexConcurrently

    class Migration(migrations.Migration):
        atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction
        dependencies = [...]
        operations = [AddIndexConcurrently(model_name="lead", index=models.Index(...))]

The migration state is the same as AddIndex's, so makemigrations sees nothing to do afterwards.
"""

from django.contrib.postgres.indexes import PostgresIndex
from django.contrib.postgres.operations import AddIndexConcurrently as PostgresAddIndexConcurrently
from django.contrib.postgres.operations import RemoveIndexConcurrently as PostgresRemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex


class AddIndexConcurrently(PostgresAddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL (writes go on while it builds); a plain
    CREATE INDEX elsewhere (SQLite has no concurrent build and a development database is small),
    and none for PostgreSQL-only kinds (GIN trigram indexes): the queries work without them.
    Put it in a migration with `atomic = False` and nothing else that needs a transaction.
    If a concurrent build fails, PostgreSQL leaves an INVALID index behind: the migration is
    not recorded, so drop that index and run migrate again."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        elif not isinstance(self.index, PostgresIndex):
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        elif not isinstance(self.index, PostgresIndex):
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrently(PostgresRemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL; a plain DROP INDEX elsewhere (see AddIndexConcurrently)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
