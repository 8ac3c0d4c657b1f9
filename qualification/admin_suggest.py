"""The scoring admin's "Suggest weights from outcomes": the action, the options page, the run's
page (progress, then the result), and the result on the suggested draft's own page. Thin: the
work is qualification.suggest's, run by the Celery task suggest_weights."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse

from leadhub.errors import ValidationFailed
from leadhub.models import LeadField

from . import suggest
from .models import ScoringModel
from .suggest_data import LABELS
from .suggest_models import SuggestionRun, SuggestionStatus


@admin.action(description="Suggest weights from outcomes")
def suggest_weights(model_admin, request, queryset):
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    models = list(queryset[:2])
    if len(models) != 1:
        model_admin.message_user(request, "Choose one model to suggest weights from.", messages.ERROR)
        return None
    return redirect("admin:qualification_scoringmodel_suggest", models[0].pk)


class SuggestForm(forms.Form):
    label = forms.ChoiceField(
        label="Learn from",
        choices=[
            ("outcome", "Outcomes: won vs lost or no win within the horizon"),
            ("acceptance", "SDR decisions: accepted vs rejected MQLs"),
        ],
        initial="outcome",
    )
    horizon_days = forms.IntegerField(
        label="Horizon (days)",
        min_value=1,
        max_value=3650,
        initial=180,
        help_text="A lead without a win this long after it was created counts as not won.",
    )
    channel = forms.CharField(required=False, max_length=20, help_text="Only leads of this channel (key), e.g. referral.")
    campaign = forms.CharField(required=False, max_length=120)
    field = forms.ChoiceField(label="Custom field", required=False)
    field_value = forms.CharField(label="…with the value", required=False, max_length=200)
    mql_rate = forms.FloatField(
        label="MQL rate (%)",
        required=False,
        min_value=0.01,
        max_value=99.99,
        help_text="Share of leads that should qualify; empty: the same as the model suggested from.",
    )
    precision = forms.FloatField(
        label="…or precision (%)",
        required=False,
        min_value=0.01,
        max_value=99.99,
        help_text="The lowest threshold at which this share of MQLs converted.",
    )
    window_days = forms.IntegerField(label="Activity window (days)", min_value=1, max_value=365, initial=30)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        keys = LeadField.objects.filter(type="choice").values_list("key", "label")
        self.fields["field"].choices = [("", "—")] + [(key, label) for key, label in keys]

    def options(self):
        data = dict(self.cleaned_data)
        for share in ("mql_rate", "precision"):
            if data.get(share) is not None:
                data[share] = data[share] / 100
        return suggest.parse_options(data)


def suggest_view(model_admin, request, pk):
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    model = get_object_or_404(ScoringModel, pk=pk)
    form = SuggestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            options = form.options()
        except ValidationFailed as exc:
            for key, messages_ in exc.field_errors.items():
                form.add_error(key if key in form.fields else None, messages_)
        else:
            run = suggest.start_suggestion(model=model, by=request.user, options=options)
            return redirect("admin:qualification_scoringmodel_suggestion", run.pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Suggest weights from outcomes (from v{model.version})",
        "opts": model_admin.model._meta,
        "original": model,
        "form": form,
        "recent": SuggestionRun.objects.filter(model=model).select_related("draft")[:5],
    }
    return TemplateResponse(request, "qualification/admin/suggest_form.html", context)


def run_view(model_admin, request, run_id):
    """The run's page; htmx asks again every 2 s for the partial while it works."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    run = get_object_or_404(SuggestionRun.objects.select_related("model", "draft"), pk=run_id)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Suggested weights from v{run.model.version}",
        "opts": model_admin.model._meta,
        "run": run,
        "labels": LABELS,
        "working": run.status in (SuggestionStatus.PENDING, SuggestionStatus.RUNNING),
    }
    template = "qualification/admin/_suggestion.html" if request.htmx else "qualification/admin/suggestion.html"
    return TemplateResponse(request, template, context)


def change_form_context(obj):
    """For a draft that a suggestion made: the run, so its page shows the held-out AUCs."""
    if obj is None:
        return {}
    return {"suggestion": SuggestionRun.objects.filter(draft=obj, status=SuggestionStatus.DONE).first()}
