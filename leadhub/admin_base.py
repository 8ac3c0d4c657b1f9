"""Admin bases every app shares: read-only history inlines and read-only models."""

from django.contrib import admin


class HistoryInline(admin.TabularInline):
    """Append-only history rows (written by services) shown read-only, newest first.
    Subclasses set `model` and `fields`."""

    extra = 0
    can_delete = False
    ordering = ["-at", "-id"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that services write (event logs, run records): listed and opened here, never added,
    edited or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
