"""Admin for scoring models: drafts are edited here; preview, publish and copy call services."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.renderers import Jinja2
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from leadhub.admin import ReadOnlyAdmin
from leadhub.errors import DomainError
from leadhub.formatting import job_state

from . import rule_text, selectors, services
from .choices import ModelStatus, RequiredField, RunStatus
from .models import EngagementRule, FitRule, RescoreRun, ScoringModel

PUBLISH_PERM = "qualification.publish_scoringmodel"


class QuickSelect(forms.Select):
    """A select rendered in Python: a rule row has four of them with up to a dozen options each,
    and rendering every option through a template was most of the editor's time for 50 rules."""

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        chosen = "" if value is None else str(value)
        parts = [f'<select name="{escape(name)}"']
        parts += [f' {escape(k)}' if v is True else f' {escape(k)}="{escape(v)}"' for k, v in attrs.items() if v not in (False, None)]
        parts.append(">")
        parts += [f'<option value="{escape(key)}"{" selected" if str(key) == chosen else ""}>{escape(label)}</option>'
                  for key, label in self.choices]
        parts.append("</select>")
        return mark_safe("".join(parts))


class RuleForm(forms.ModelForm):
    """A rule row of the editor. The database's check constraints are not re-checked here with a
    query per row and constraint (the choices already hold the values to them), so opening and
    saving a model costs the same few queries for 5 rules as for 50."""

    # Widgets render with Jinja2: fifty rules are a few hundred widgets, which Django's template
    # language took most of the page's time to render.
    default_renderer = Jinja2()

    def validate_constraints(self):
        pass



class RuleFormSet(forms.BaseInlineFormSet):
    """The rule rows. Each posted row finds its rule among those the formset read (one query),
    instead of the stock id field's query per row."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        field = form.fields.get(self._pk_field.name)
        if isinstance(field, forms.ModelChoiceField):
            field.to_python = self._known_rule

    def _known_rule(self, value):
        if value in forms.Field.empty_values:
            return None
        try:
            rule = self._existing_object(int(value))
        except (TypeError, ValueError):
            rule = None
        if rule is None:
            raise ValidationError("This rule is no longer in this group or was deleted: reload the page.", code="invalid_choice")
        return rule


class RuleInline(admin.StackedInline):
    """Rules as stacked rows (qualification/admin/rule_rows.html): each rule a short block of
    its plain-language sentence over its fields, which wrap, so the editor fits a laptop."""

    extra = 0
    form = RuleForm
    formset = RuleFormSet
    template = "qualification/admin/rule_rows.html"
    group = rule_text.FIT
    help = ""

    def _editable(self, obj):
        return obj is None or obj.status == ModelStatus.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        form_field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if form_field is not None:
            form_field.help_text = ""  # said once above each group, not on every row
            if type(form_field.widget) is forms.Select:
                form_field.widget = QuickSelect(attrs=form_field.widget.attrs, choices=form_field.widget.choices)
        return form_field

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.group, formset.group_title, formset.help = self.group, rule_text.GROUP_TITLES[self.group], self.help
        return formset


FIT_HELP = ("Points for who the lead is. Value: one value; a comma-separated list for “is one of”; “low, high” for "
            "“between”; numbers may end in k or m (10m = 10,000,000); text matches ignore case.")


class FitRuleInline(RuleInline):
    model = FitRule
    fields = [("field", "operator", "value", "points", "label")]
    verbose_name, verbose_name_plural = "fit rule", "Fit rules"
    help = FIT_HELP + " A rule with points below 0 moves to Negative rules when saved."

    def get_queryset(self, request):
        return super().get_queryset(request).filter(points__gte=0).order_by("id")


class NegativeFitRuleInline(FitRuleInline):
    verbose_name, verbose_name_plural = "negative rule", "Negative rules"
    group = rule_text.NEGATIVE
    help = "Fit rules that take points away (free-mail domains, students, competitors). " + FIT_HELP

    def get_queryset(self, request):
        return admin.StackedInline.get_queryset(self, request).filter(points__lt=0).order_by("id")


class EngagementRuleInline(RuleInline):
    model = EngagementRule
    fields = [("kind", "points", "cap", "window_days"), ("condition_property", "condition_operator", "condition_value", "label")]
    verbose_name, verbose_name_plural = "engagement rule", "Engagement rules"
    group = rule_text.ENGAGEMENT
    help = ("Points for each activity of a kind within the window (today is day 1), halving every half-life; "
            "the cap is the most a rule gives (empty: no cap). A condition (e.g. minutes ≥ 5) needs all three parts.")


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
    inlines = [FitRuleInline, EngagementRuleInline, NegativeFitRuleInline]
    actions = ["copy_as_draft"]
    change_list_template = "qualification/admin/scoringmodel_change_list.html"
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

    @admin.display(description="required fields")
    def required_fields_labels(self, obj):
        labels = dict(RequiredField.choices)
        return ", ".join(str(labels.get(name, name)) for name in obj.required_fields or []) or "none"

    def get_fieldsets(self, request, obj=None):
        if obj is None or obj.status == ModelStatus.DRAFT:
            return self.fieldsets
        # History reads as words: the required fields by their labels, not as a JSON list.
        return [(name, {**options, "fields": ["required_fields_labels" if f == "required_fields" else f for f in options["fields"]]})
                for name, options in self.fieldsets]

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
            return [f for fs in self.get_fieldsets(request, obj) for f in fs[1]["fields"]]
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
