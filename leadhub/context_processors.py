from django.urls import NoReverseMatch

from .links import link

# (label, url name, permissions needed ("!perm": one the user must not have) or None). Pages of
# later apps appear when their URLs exist. "My SALs" is the SDRs' page: managers can act too, but
# they work the team, not a list of their own.
NAV_ITEMS = [
    ("Queue", "handoff:queue", "handoff.view_handoff"),
    ("My SALs", "my-sals", "handoff.act_on_handoff !handoff.reassign_handoff"),
    ("Leads", "leads:list", "leadhub.view_lead"),
    ("Import", "leads:import", "leadhub.import_leads"),
    ("Dashboard", "handoff:dashboard", "handoff.view_dashboard"),
    ("Team", "handoff:team", "handoff.change_sdrprofile"),
    ("Feedback", "handoff:feedback", "handoff.view_feedback"),
]


def navigation(request):
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated):
        return {"nav_items": []}
    items = []
    for label, name, perm in NAV_ITEMS:
        try:
            url = link(name)
        except NoReverseMatch:
            continue
        if perm is None or all(_allowed(user, p) for p in perm.split()):
            items.append({"label": label, "url": url, "active": False})
    # The most specific page is the active one (/leads/import/ is Import, not Leads).
    matching = [item for item in items if request.path.startswith(item["url"])]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["active"] = True
    return {"nav_items": items}


def _allowed(user, perm):
    return not user.has_perm(perm[1:]) if perm.startswith("!") else user.has_perm(perm)
