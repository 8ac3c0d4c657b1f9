"""The team page (/team/): each SDR's load and SLA figures, and their routing facts
(available, out of office until, capacity) edited in place by sales managers.

Views parse input and call one service (services.sdr_profile_update); htmx posts get the
row back, refusals included: a refused edit answers 200 with the row's form and its
sentence, so django-htmx's debug error handler (DEBUG) never swaps an error page in."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from leadhub.errors import DomainError

from . import reports, services
from .forms import SDRProfileForm
from .models import SDRProfile, SDRProfileChange
from .selectors import format_duration

HISTORY_LIMIT = 20


def _history():
    return list(SDRProfileChange.objects.select_related("profile__user", "by")[:HISTORY_LIMIT])


def _form(profile, data=None):
    initial = {
        "available": profile.available,
        "capacity": profile.capacity,
        "out_of_office_until": timezone.localtime(profile.out_of_office_until) if profile.out_of_office_until else None,
    }
    return SDRProfileForm(data, initial=initial, prefix=f"p{profile.pk}")


def _rows(now):
    rows = reports.team_load(now)
    for row in rows:
        minutes = row["median_minutes"]
        row["median_text"] = format_duration(timedelta(minutes=minutes)) if minutes is not None else ""
    return rows


def _row(now, profile_id):
    return next(row for row in _rows(now) if row["profile"].pk == profile_id)


@require_GET
@login_required
@permission_required(services.PROFILE_PERMISSION, raise_exception=True)
def team(request):
    now = timezone.now()
    rows = _rows(now)
    for row in rows:
        row["form"] = _form(row["profile"])
    return render(
        request, "handoff/team.html", {"rows": rows, "history": _history(), "now": now, "max_capacity": services.MAX_CAPACITY}
    )


@require_POST
@login_required
@permission_required(services.PROFILE_PERMISSION, raise_exception=True)
def team_profile(request, pk):
    """Save one SDR's row. htmx: the row (with its sentence) and the history, out of band."""
    profile = get_object_or_404(SDRProfile.objects.select_related("user"), pk=pk)
    form = _form(profile, request.POST)
    notice, error = None, None
    if form.is_valid():
        try:
            profile, written = services.sdr_profile_update(profile=profile, by=request.user, **form.cleaned_data)
        except DomainError as exc:
            error = exc.message
            for field, field_errors in exc.field_errors.items():
                for message in field_errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            name = profile.user.get_full_name() or profile.user.username
            notice = (
                f"Saved {name}: " + "; ".join(f"{services.PROFILE_LABELS[c.field]} {c.new_value}" for c in written) + "."
                if written
                else f"Nothing to save for {name}: no value changed."
            )
    else:
        error = "Check the highlighted values: nothing was saved."
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, notice)
        return redirect("handoff:team")
    now = timezone.now()
    row = _row(now, profile.pk)
    row["form"] = _form(profile) if error is None else form
    context = {
        "row": row,
        "notice": notice,
        "error": error,
        "history": _history(),
        "oob": True,
        "max_capacity": services.MAX_CAPACITY,
    }
    return render(request, "handoff/_team_row.html", context)
