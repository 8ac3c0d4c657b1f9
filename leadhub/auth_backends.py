"""Authentication backend: Django's ModelBackend, reading a user's permissions in one query.

Every page checks permissions (the view and the navigation); ModelBackend reads the user's own
and their groups' permissions with two queries per request. One query gives the same set."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q


class ModelBackendOneQuery(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            permissions = Permission.objects.all()
            if not user_obj.is_superuser:
                user_ids = Permission.user_set.through.objects.filter(user_id=user_obj.pk).values("permission_id")
                group_ids = Permission.group_set.through.objects.filter(
                    group__in=user_obj.groups.through.objects.filter(user_id=user_obj.pk).values("group_id")
                ).values("permission_id")
                permissions = permissions.filter(Q(pk__in=user_ids) | Q(pk__in=group_ids))
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.values_list("content_type__app_label", "codename").order_by()
            }
        return user_obj._perm_cache
