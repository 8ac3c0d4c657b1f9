"""SQLite for development and the default test run, without PostgreSQL-only indexes.

The lead tables carry GIN indexes (trigram search, custom fields) that SQLite cannot build.
Migrations that add them skip them there (leadhub.migration_operations), but SQLite rebuilds a
whole table for most column changes, with every index the model declares: this schema editor
leaves the PostgreSQL-only ones out of those rebuilds, so any later migration of the lead table
runs on both databases. Queries do not need them.
"""

from django.contrib.postgres.indexes import PostgresIndex
from django.db.backends.sqlite3 import base, schema


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def _model_indexes_sql(self, model):
        declared = model._meta.indexes
        portable = [index for index in declared if not isinstance(index, PostgresIndex)]
        if len(portable) == len(declared):
            return super()._model_indexes_sql(model)
        # A schema editor works on one model at a time, in one thread.
        model._meta.indexes = portable
        try:
            return super()._model_indexes_sql(model)
        finally:
            model._meta.indexes = declared

    def add_index(self, model, index):
        if not isinstance(index, PostgresIndex):
            super().add_index(model, index)

    def remove_index(self, model, index):
        if not isinstance(index, PostgresIndex):
            super().remove_index(model, index)


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
