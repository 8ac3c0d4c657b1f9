"""Role groups and their permissions. Data migrations of each app call grant() so a
fresh database and an upgraded one end up the same."""

SDR = "SDR"
MARKETING = "Marketing"
SALES_MANAGER = "Sales manager"
INTEGRATION = "Integration"
ALL_ROLES = (SDR, MARKETING, SALES_MANAGER, INTEGRATION)


def ensure_permissions(apps):
    """Create model permissions now: Django only creates them after all migrations ran."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # create_permissions skips an app without models_module, which a migration's app stub
        # lacks; put back what was there, so the live registry (whose post_migrate signals
        # depend on it) is never left changed.
        previous = getattr(app_config, "models_module", None)
        app_config.models_module = previous or True
        try:
            create_permissions(app_config, verbosity=0)
        finally:
            app_config.models_module = previous


def grant(apps, role_permissions):
    """role_permissions: {group name: ["app_label.codename", ...]}."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ensure_permissions(apps)
    for role, perms in role_permissions.items():
        group, _ = Group.objects.get_or_create(name=role)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
