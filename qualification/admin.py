"""Admin for scoring models: drafts are edited here; preview, publish and copy call services."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.timesince import timesince

from leadhub.admin_base import ReadOnlyAdmin
from leadhub.errors import DomainError
from leadhub.formatting import job_state

from . import selectors, services
from .choices import ModelStatus, RequiredField, RunStatus
from .models import EngagementRule, FitRule, RescoreRun, ScoringModel

PUBLISH_PERM = "qualification.publish_scoringmodel"


class DraftOnlyInline(admin.TabularInline):
    extra = 0

    def _editable(self, obj):
        return obj is None or obj.status == ModelStatus.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


class FitRuleInline(DraftOnlyInline):
    model = FitRule
    fields = ["field", "operator", "value", "points", "label"]


class EngagementRuleInline(DraftOnlyInline):
    model = EngagementRule
    fields = ["kind", "points", "condition_property", "condition_operator", "condition_value", "cap", "window_days", "label"]


class ScoringModelForm(forms.ModelForm):
    required_fields = forms.MultipleChoiceField(
        choices=RequiredField.choices, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="Profile fields a lead must have to become an MQL.",
    )

    class Meta:
        model = ScoringModel
        fields = ["name", "mql_threshold", "min_grade", "required_fields", "grade_a_min", "grade_b_min", "grade_c_min",
                  "half_life_days"]


@admin.register(ScoringModel)
class ScoringModelAdmin(admin.ModelAdmin):
    form = ScoringModelForm
    list_display = ["__str__", "status_badge", "mql_threshold", "min_grade", "half_life_days", "published_at", "published_by"]
    list_filter = ["status"]
    inlines = [FitRuleInline, EngagementRuleInline]
    actions = ["copy_as_draft"]
    change_form_template = "qualification/admin/scoringmodel_change_form.html"
    fieldsets = [
        (None, {"fields": ["version", "name", "status"]}),
        ("Becoming an MQL", {"fields": ["mql_threshold", "min_grade", "required_fields"]}),
        ("Grade bands (from fit)", {"fields": ["grade_a_min", "grade_b_min", "grade_c_min"]}),
        ("Engagement", {"fields": ["half_life_days"]}),
        ("History", {"fields": ["copied_from", "created_at", "published_at", "published_by"]}),
    ]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="scoring-status scoring-status-{}">{}</span>', obj.status, obj.get_status_display())

    def get_readonly_fields(self, request, obj=None):
        always = ["version", "status", "copied_from", "created_at", "published_at", "published_by"]
        if obj is not None and obj.status != ModelStatus.DRAFT:
            # Published and archived models are history: copy one to change it.
            return [f for fs in self.fieldsets for f in fs[1]["fields"]]
        return always

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status != ModelStatus.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/copy/", view(self.copy_view), name="qualification_scoringmodel_copy"),
            path("<int:pk>/preview/", view(self.preview_view), name="qualification_scoringmodel_preview"),
            path("<int:pk>/publish/", view(self.publish_view), name="qualification_scoringmodel_publish"),
            path("progress/", view(self.progress_view), name="qualification_scoringmodel_progress"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        context.update({
            "can_publish": obj is not None and obj.status == ModelStatus.DRAFT and request.user.has_perm(PUBLISH_PERM),
            "can_copy": obj is not None and self.has_add_permission(request),
            "run": selectors.active_run() or (selectors.recent_runs(1) or [None])[0],
        })
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    @admin.action(description="Copy as new draft")
    def copy_as_draft(self, request, queryset):
        if not self.has_add_permission(request):
            raise PermissionDenied
        for model in queryset:
            draft = services.copy_as_draft(model=model, by=request.user)
            self.message_user(request, f"Created draft v{draft.version} from v{model.version}.", messages.SUCCESS)

    def copy_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        source = get_object_or_404(ScoringModel, pk=pk)
        draft = services.copy_as_draft(model=source, by=request.user)
        self.message_user(request, f"Created draft v{draft.version} from v{source.version}; edit it, preview, then publish.", messages.SUCCESS)
        return redirect("admin:qualification_scoringmodel_change", draft.pk)

    def preview_view(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        draft = get_object_or_404(ScoringModel, pk=pk)
        try:
            result = services.preview(draft=draft, by=request.user)
            error = None
        except DomainError as exc:
            result, error = None, exc.message
        except ValueError as exc:  # a rule value that does not parse: validation tells which
            result, error = None, str(exc)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview of v{draft.version}",
            "opts": self.model._meta,
            "original": draft,
            "draft": draft,
            "preview": result,
            "error": error,
            "max_count": max([max(n, d) for _, n, d in result.distribution] or [1]) if result else 1,
            "can_publish": draft.status == ModelStatus.DRAFT and request.user.has_perm(PUBLISH_PERM),
        }
        return TemplateResponse(request, "qualification/admin/preview.html", context)

    def publish_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(PUBLISH_PERM):
            raise PermissionDenied
        draft = get_object_or_404(ScoringModel, pk=pk)
        try:
            run = services.publish(draft=draft, by=request.user)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect("admin:qualification_scoringmodel_change", draft.pk)
        self.message_user(request, f"Published v{draft.version}; rescoring {run.total:,} leads.", messages.SUCCESS)
        return redirect("admin:qualification_rescorerun_change", run.pk)

    def progress_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = selectors.active_run() or (selectors.recent_runs(1) or [None])[0]
        return TemplateResponse(request, "qualification/admin/_run_progress.html", {"run": run})


@admin.register(RescoreRun)
class RescoreRunAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "state", "progress", "rate_display", "promoted", "nurtured", "age", "created_at", "finished_at"]
    list_filter = ["status", "kind"]
    actions = ["resume"]
    change_form_template = "qualification/admin/rescorerun_change_form.html"
    readonly_fields = [
        "model", "kind", "state", "as_of", "progress", "rate_display", "promoted", "nurtured", "last_lead_id",
        "max_lead_id", "started_by", "created_at", "started_at", "heartbeat_at", "attempts", "finished_at", "error",
    ]
    fields = readonly_fields

    @admin.display(description="status", ordering="status")
    def state(self, run):
        return job_state(run, failed=run.status == RunStatus.FAILED)

    @admin.display(description="age")
    def age(self, run):
        return timesince(run.created_at) if run.active else "—"

    @admin.display(description="progress")
    def progress(self, run):
        return f"{run.done:,} / {run.total:,} ({run.percent}%)"

    @admin.display(description="rate")
    def rate_display(self, run):
        return f"{run.rate:,.0f} leads/s" if run.rate else "—"

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        can_resume = obj is not None and (obj.status == RunStatus.FAILED or obj.stalled_since) and request.user.has_perm(PUBLISH_PERM)
        context.update({"run": obj, "can_resume": can_resume})
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def get_urls(self):
        return [
            path("<int:pk>/resume/", self.admin_site.admin_view(self.resume_view), name="qualification_rescorerun_resume"),
            *super().get_urls(),
        ]

    def resume_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(PUBLISH_PERM):
            raise PermissionDenied
        run = get_object_or_404(RescoreRun, pk=pk)
        try:
            services.resume_run(run=run, by=request.user)
            self.message_user(request, "Resumed.", messages.SUCCESS)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return redirect(reverse("admin:qualification_rescorerun_change", args=[pk]))

    @admin.action(description="Resume the selected stopped runs")
    def resume(self, request, queryset):
        if not request.user.has_perm(PUBLISH_PERM):
            raise PermissionDenied
        for run in queryset:
            try:
                services.resume_run(run=run, by=request.user)
                self.message_user(request, f"Resumed {run}.", messages.SUCCESS)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
