"""Admin for scoring models: drafts are edited here; preview, publish and copy call services."""

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html

from . import admin_json, admin_publish, admin_suggest, selectors, services
from .choices import ModelStatus, RequiredField
from .editor_forms import EngagementRuleInline, FitRuleInline, NegativeFitRuleInline, ScoringModelForm
from .models import ScoringModel

PUBLISH_PERM = "qualification.publish_scoringmodel"


@admin.register(ScoringModel)
class ScoringModelAdmin(admin.ModelAdmin):
    form = ScoringModelForm
    list_display = ["__str__", "status_badge", "mql_threshold", "min_grade", "half_life_days", "published_at", "published_by"]
    list_filter = ["status"]
    inlines = [FitRuleInline, EngagementRuleInline, NegativeFitRuleInline]
    actions = ["copy_as_draft", admin_json.export_as_json, admin_suggest.suggest_weights]
    change_list_template = "qualification/admin/scoringmodel_change_list.html"
    change_form_template = "qualification/admin/scoringmodel_change_form.html"
    fieldsets = [
        (None, {"fields": [("name", "version", "status")]}),
        ("Becoming an MQL", {"fields": [("mql_threshold", "min_grade"), "required_fields"]}),
        ("Grade bands (from fit)", {"fields": [("grade_a_min", "grade_b_min", "grade_c_min")]}),
        ("Engagement", {"fields": ["half_life_days"]}),
        ("History", {"fields": [("copied_from", "created_at", "published_at", "published_by")]}),
    ]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="scoring-status scoring-status-{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description="required fields")
    def required_fields_labels(self, obj):
        labels = dict(RequiredField.choices)
        return ", ".join(str(labels.get(name, name)) for name in obj.required_fields or []) or "none"

    def get_fieldsets(self, request, obj=None):
        if obj is None or obj.status == ModelStatus.DRAFT:
            return self.fieldsets
        # History reads as words: the required fields by their labels, not as a JSON list.
        return [
            (name, {**options, "fields": ["required_fields_labels" if f == "required_fields" else f for f in options["fields"]]})
            for name, options in self.fieldsets
        ]

    def has_change_permission(self, request, obj=None):
        # A published or archived model opens read-only, without save buttons: copy it to change it.
        if obj is not None and obj.status != ModelStatus.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def changelist_view(self, request, extra_context=None):
        extra = {"published": selectors.published_model(), "can_copy": self.has_add_permission(request)}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def get_readonly_fields(self, request, obj=None):
        always = ["version", "status", "copied_from", "created_at", "published_at", "published_by"]
        if obj is not None and obj.status != ModelStatus.DRAFT:
            # Published and archived models are history: copy one to change it.
            return flatten_fieldsets(self.get_fieldsets(request, obj))
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
            path("import-json/", view(lambda r: admin_json.import_view(self, r)), name="qualification_scoringmodel_import"),
            path(
                "<int:pk>/suggest/",
                view(lambda r, pk: admin_suggest.suggest_view(self, r, pk)),
                name="qualification_scoringmodel_suggest",
            ),
            path(
                "suggestions/<int:run_id>/",
                view(lambda r, run_id: admin_suggest.run_view(self, r, run_id)),
                name="qualification_scoringmodel_suggestion",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        context.update(
            {
                "can_publish": obj is not None and obj.status == ModelStatus.DRAFT and request.user.has_perm(PUBLISH_PERM),
                "can_copy": obj is not None and self.has_add_permission(request),
                "run": selectors.active_run() or (selectors.recent_runs(1) or [None])[0],
                "publishes": list(obj.publishes.select_related("by")) if obj is not None else [],
                "can_suggest": obj is not None and self.has_add_permission(request),
                **admin_suggest.change_form_context(obj),
            }
        )
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
        self.message_user(
            request, f"Created draft v{draft.version} from v{source.version}; edit it, preview, then publish.", messages.SUCCESS
        )
        return redirect("admin:qualification_scoringmodel_change", draft.pk)

    def preview_view(self, request, pk):
        return admin_publish.preview_view(self, request, pk)

    def publish_view(self, request, pk):
        return admin_publish.publish_view(self, request, pk)

    def progress_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = selectors.active_run() or (selectors.recent_runs(1) or [None])[0]
        return TemplateResponse(request, "qualification/admin/_run_progress.html", {"run": run})


from . import admin_runs  # noqa: E402, F401  (registers the rescoring runs' admin)
