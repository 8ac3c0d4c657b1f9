"""Authentication backend: Django's ModelBackend, reading a user's permissions in one query.

Every page checks permissions (the view and the navigation); ModelBackend reads the user's own
and their groups' permissions with two ORM queries per request. One plain query gives the same
set."""

from axes.backends import AxesStandaloneBackend
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


def permissions_statement(user):
    """The user's permissions, read afresh: (sql, params, one) for leadhub.sql.query_many.
    A prepared statement (leadhub.sql): planning this join costs more than running it."""
    return _permissions_sql(user.is_superuser), [] if user.is_superuser else [user.pk, user.pk], False


# What this process last read of each user's permissions. A page that reads its data in one
# round trip may go ahead with them and read them afresh in that same round trip, answering
# only from the fresh ones (handoff.views.queue): they never grant anything by themselves.
_LAST_READ = {}
_LAST_READ_MAX = 10_000


def last_read_permissions(user):
    """What this process last read of `user`'s permissions (a frozenset), or None."""
    return _LAST_READ.get(user.pk)


def assume_permissions(user, permissions):
    """Let has_perm answer from `permissions` until set_permissions gives the fresh ones."""
    user._perm_cache = set(permissions)


def set_permissions(user, rows):
    """The rows of permissions_statement as `user`'s permissions for this request (what
    has_perm answers from), and as what this process last read; returns them as a frozenset."""
    permissions = frozenset(f"{app_label}.{codename}" for app_label, codename in rows)
    user._perm_cache = set(permissions)
    if len(_LAST_READ) >= _LAST_READ_MAX:
        _LAST_READ.clear()
    _LAST_READ[user.pk] = permissions
    return permissions


def read_permissions(user):
    sql, params, _ = permissions_statement(user)
    return set_permissions(user, query(sql, params))


class ModelBackendOneQuery(ModelBackend):
    def user_can_authenticate(self, user):
        """Integration accounts are machines with an API token: they never sign in to the pages
        or the admin (a leaked password of one opens no screen)."""
        from .roles import INTEGRATION

        return super().user_can_authenticate(user) and not user.groups.filter(name=INTEGRATION).exists()

    def get_user(self, user_id):
        # Each request's session user: the sign-in above is the gate, so this stays one query.
        user = get_user_model()._default_manager.filter(pk=user_id).first()
        return user if user is not None and ModelBackend.user_can_authenticate(self, user) else None

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            read_permissions(user_obj)
        return user_obj._perm_cache


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every sign-in made through a request (/login/,
    /admin/login/). Sign-ins without a request (the test client's login(), a shell) have no
    address or form to count against and are left to the next backend."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
