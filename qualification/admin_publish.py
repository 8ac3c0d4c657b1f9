"""The preview and the publish confirmation pages of the scoring admin (thin: the figures come
from preview.py and routing_impact.py, the publish from publishing.py)."""

import math

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse

from leadhub.errors import DomainError

from . import backtest, services
from .choices import ModelStatus
from .models import ScoringModel
from .routing_impact import routing_impact

PUBLISH_PERM = "qualification.publish_scoringmodel"
ALL_AT_ONCE, GRADUAL = "all", "gradual"


class PublishForm(forms.Form):
    note = forms.CharField(
        label="Why are you publishing this version?",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        max_length=2000,
        error_messages={"required": "Say why you publish: it goes in the model's history for whoever reads it next."},
    )
    mode = forms.ChoiceField(
        label="New handoffs",
        widget=forms.RadioSelect,
        initial=ALL_AT_ONCE,
        choices=[(ALL_AT_ONCE, "Open them all at once"), (GRADUAL, "Open them gradually, at most this many a day:")],
    )
    daily_cap = forms.IntegerField(label="Daily cap", min_value=1, max_value=100_000, required=False)
    expected_new_mqls = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("mode") == GRADUAL and not cleaned.get("daily_cap"):
            self.add_error("daily_cap", "Give the most new handoffs to open a day (1 or more), or open them all at once.")
        return cleaned


def _preview_or_error(draft):
    try:
        return services.preview(draft=draft), None
    except DomainError as exc:
        return None, exc.message
    except ValueError as exc:  # a rule value that does not parse: validation tells which
        return None, str(exc)


def _context(model_admin, request, draft, title, **extra):
    return {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "original": draft,
        "draft": draft,
        "can_publish": draft.status == ModelStatus.DRAFT and request.user.has_perm(PUBLISH_PERM),
        **extra,
    }


def preview_view(model_admin, request, pk):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    draft = get_object_or_404(ScoringModel, pk=pk)
    result, error = _preview_or_error(draft)
    context = _context(
        model_admin,
        request,
        draft,
        f"Preview of v{draft.version}",
        preview=result,
        error=error,
        impact=routing_impact(result.promoted) if result else None,
        max_count=max([max(n, d) for _, n, d in result.distribution] or [1]) if result else 1,
        backtest=backtest.for_preview(draft, request.GET) if result else None,
    )
    return TemplateResponse(request, "qualification/admin/preview.html", context)


def publish_view(model_admin, request, pk):
    """GET: the confirmation (the headline and the routing impact again, why, and how the new
    handoffs open). POST: publish, recorded with the note and the choice."""
    if not request.user.has_perm(PUBLISH_PERM):
        raise PermissionDenied
    draft = get_object_or_404(ScoringModel, pk=pk)
    if draft.status != ModelStatus.DRAFT:
        model_admin.message_user(
            request, f"v{draft.version} is {draft.get_status_display().lower()}; only a draft can be published.", messages.ERROR
        )
        return redirect("admin:qualification_scoringmodel_change", draft.pk)
    form = PublishForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        gradual = form.cleaned_data["mode"] == GRADUAL
        try:
            run = services.publish(
                draft=draft,
                by=request.user,
                note=form.cleaned_data["note"],
                daily_cap=form.cleaned_data["daily_cap"] if gradual else None,
                expected_new_mqls=form.cleaned_data["expected_new_mqls"],
            )
        except DomainError as exc:
            model_admin.message_user(request, exc.message, messages.ERROR)
            return redirect("admin:qualification_scoringmodel_change", draft.pk)
        how = (
            f"the new handoffs open at most {form.cleaned_data['daily_cap']:,} a day"
            if gradual
            else "the new handoffs open at once"
        )
        model_admin.message_user(
            request, f"Published v{draft.version} ({how}). Its rescoring of all leads is below.", messages.SUCCESS
        )
        return redirect("admin:qualification_rescorerun_change", run.pk)
    result, error = _preview_or_error(draft)
    impact = routing_impact(result.promoted) if result else None
    cap = form.data.get("daily_cap") if form.is_bound else None
    # A gentle default: the new handoffs over about three days, never more a day than the SDRs have room for.
    suggested = max(1, min(math.ceil(impact.new_mqls / 3), impact.free_capacity)) if impact else 1
    if not form.is_bound:
        form = PublishForm(initial={"daily_cap": suggested, "expected_new_mqls": result.promoted if result else None})
    capped = (
        routing_impact(result.promoted, daily_cap=int(cap) if cap and str(cap).isdigit() and int(cap) > 0 else suggested)
        if result
        else None
    )
    context = _context(
        model_admin,
        request,
        draft,
        f"Publish v{draft.version}?",
        preview=result,
        error=error,
        impact=impact,
        capped=capped,
        form=form,
    )
    return TemplateResponse(request, "qualification/admin/publish_confirm.html", context, status=400 if form.is_bound else 200)
