"""The lead page's handoff section: the SQL checklist, the outcome and recycling, each a form
that answers with the section re-rendered (htmx) or a redirect with a message."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from leadhub.errors import DomainError
from leadhub.models import Lead

from .. import selectors, services
from .queue import VIEW

CHECKBOX_FIELDS = services.CHECKLIST_FLAGS
TEXT_FIELDS = ("opportunity_amount", *services.CHECKLIST_NOTES)


def _checklist_from_post(post):
    values = {name: post.get(name) in ("on", "true", "1", "yes") for name in CHECKBOX_FIELDS}
    values.update({name: post.get(name, "") for name in TEXT_FIELDS})
    return values


def _lead_section(request, lead, *, status=200, **kwargs):
    lead = Lead.objects.select_related("company", "owner").get(pk=lead.pk)
    context = {"lead": lead, **selectors.lead_handoff_context(lead, request.user, **kwargs)}
    return render(request, "handoff/_lead_handoff.html", context, status=status)


def _lead_action(request, pk, action, done, *, values=None):
    lead = get_object_or_404(Lead, pk=pk)
    try:
        result = action(lead)
    except DomainError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect("leads:detail", pk=pk)
        response = _lead_section(
            request, lead, status=exc.status_code, errors={"form": [exc.message], **exc.field_errors}, values=values
        )
        # The refusal replaces the section it came from (queue.js swaps these statuses in place).
        response["HX-Retarget"] = "#lead-handoff"
        response["HX-Reswap"] = "outerHTML"
        return response
    message = done(result)
    if request.htmx and request.POST.get("action") == "save":
        return _lead_section(request, lead, notice=message)
    messages.success(request, message)
    if request.htmx:
        # The stage changed: reload the whole lead page (badge, history) with the message.
        response = HttpResponse()
        response["HX-Redirect"] = reverse("leads:detail", args=[pk])
        return response
    return redirect("leads:detail", pk=pk)


@require_POST
@permission_required(VIEW, raise_exception=True)
def lead_checklist(request, pk):
    values = _checklist_from_post(request.POST)
    if request.POST.get("action") == "save":
        return _lead_action(
            request,
            pk,
            lambda lead: services.qualification_save(lead=lead, by=request.user, **values),
            lambda q: "Checklist saved.",
            values=values,
        )
    return _lead_action(
        request,
        pk,
        lambda lead: services.lead_qualify(lead=lead, by=request.user, note=request.POST.get("note", ""), **values),
        lambda q: "Qualified: the lead is now an SQL.",
        values=values,
    )


@require_POST
@permission_required(VIEW, raise_exception=True)
def lead_outcome(request, pk):
    outcome = request.POST.get("outcome", "")
    return _lead_action(
        request,
        pk,
        lambda lead: services.lead_record_outcome(
            lead=lead,
            by=request.user,
            outcome=outcome,
            lost_reason=request.POST.get("lost_reason", ""),
            note=request.POST.get("note", ""),
        ),
        lambda q: f"Outcome recorded: {q.get_outcome_display().lower()}.",
    )


@require_POST
@permission_required(VIEW, raise_exception=True)
def lead_recycle(request, pk):
    note = request.POST.get("note", "")

    def recycle(lead):
        return services.lead_recycle(lead=lead, by=request.user, reason=request.POST.get("reason"), note=note)

    return _lead_action(request, pk, recycle, lambda moved: f"Recycled: the lead is now {moved.get_stage_display()}.")
