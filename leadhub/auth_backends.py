"""Authentication backend: Django's ModelBackend, reading a user's permissions in one query.

Every page checks permissions (the view and the navigation); ModelBackend reads the user's own
and their groups' permissions with two ORM queries per request. One plain query gives the same
set."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from .sql import query


def _permissions_sql(superuser):
    user_model = get_user_model()
    permission, content_type = Permission._meta.db_table, ContentType._meta.db_table
    sql = f"SELECT ct.app_label, p.codename FROM {permission} p JOIN {content_type} ct ON ct.id = p.content_type_id"
    if superuser:
        return sql
    user_permissions = user_model._meta.get_field("user_permissions").remote_field.through._meta.db_table
    user_groups = user_model._meta.get_field("groups").remote_field.through._meta.db_table
    group_permissions = Group._meta.get_field("permissions").remote_field.through._meta.db_table
    return (
        f"{sql} WHERE p.id IN (SELECT permission_id FROM {user_permissions} WHERE user_id = %s"
        f" UNION SELECT gp.permission_id FROM {group_permissions} gp JOIN {user_groups} ug ON ug.group_id = gp.group_id"
        f" WHERE ug.user_id = %s)"
    )


class ModelBackendOneQuery(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            # A prepared statement (leadhub.sql): planning this join costs more than running it.
            params = [] if user_obj.is_superuser else [user_obj.pk, user_obj.pk]
            rows = query(_permissions_sql(user_obj.is_superuser), params)
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache
