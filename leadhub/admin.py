"""The admin site of the lead records. Composition root: the merge page counts the handoff
app's rows too. The admin bases other apps share are in leadhub.admin_base."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from handoff.models import Handoff

from . import lead_fields, search, services
from .admin_base import HistoryInline, ReadOnlyAdmin
from .admin_taxonomy import ActivityKindAdmin, ChannelAdmin, IndustryAdmin  # noqa: F401  (registered there)
from .errors import DomainError
from .formatting import job_state
from .identity import clean_source
from .imports import import_resume
from .lead_fields import clean_attributes
from .models import (
    Activity,
    Company,
    ImportMapping,
    Lead,
    LeadAlias,
    LeadExternalId,
    LeadField,
    LeadImport,
    LeadMerge,
    Outcome,
    StageChange,
)
from .services import MERGE_PERMISSION, lead_merge, merge_order, normalize_email, possible_duplicates


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "industry", "employee_count", "annual_revenue", "country"]
    list_filter = ["industry", "country"]
    search_fields = ["name", "domain"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        search.refresh_search_text(company_ids=[obj.pk])
        if change:  # a company's facts are part of its leads' fit
            services.rescore_after_commit(Lead.objects.filter(company=obj).values_list("pk", flat=True))


class StageChangeInline(HistoryInline):
    model = StageChange
    fields = ["at", "from_stage", "to_stage", "by", "reason", "note"]


class ExternalIdInline(admin.TabularInline):
    """The lead's ids in other systems: one per source, each unique within its source."""

    model = LeadExternalId
    fields = ["source", "external_id", "created_at"]
    readonly_fields = ["created_at"]
    extra = 0


class OutcomeInline(admin.TabularInline):
    """Won or lost: from the queue, or recorded outside it (API, imports). Read only."""

    model = Outcome
    fields = ["result", "occurred_on", "amount", "origin", "source", "external_id", "recorded_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-occurred_on", "-id"]

    def has_add_permission(self, request, obj=None):
        return False


class LeadAdminForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = ["email", "first_name", "last_name", "title", "phone", "country", "company", "source", "campaign", "attributes"]

    def clean_email(self):
        # NULL, never "": leads known by phone or id only have no email, and many may exist.
        return normalize_email(self.cleaned_data.get("email")) or None

    def clean_attributes(self):
        # The one validator of custom field values; the form holds the lead's whole set.
        merged, errors = clean_attributes(self.cleaned_data.get("attributes") or {}, current={})
        if errors:
            raise forms.ValidationError([f"{key}: {message}" for key, message in errors.items()])
        return merged


class SearchRankedChangeList(ChangeList):
    """Searching without a chosen column: the best matches first, as on the lead list."""

    def get_ordering(self, request, queryset):
        if "search_tier" in queryset.query.annotations and ORDER_VAR not in self.params:
            return ["search_tier", "-search_similarity", "-created_at", "-pk"]
        return super().get_ordering(request, queryset)


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "first_name",
        "last_name",
        "company",
        "source",
        "campaign",
        "stage",
        "total_score",
        "grade",
        "owner",
        "created_at",
    ]
    list_filter = ["stage", "source", "grade", "created_at"]
    search_fields = ["email", "first_name", "last_name", "company__name"]
    list_select_related = ["company", "owner"]
    autocomplete_fields = ["company"]
    date_hierarchy = "created_at"
    form = LeadAdminForm
    inlines = [ExternalIdInline, OutcomeInline, StageChangeInline]
    show_full_result_count = False
    # Stage, owner and scores change only through services (transition, handoff decisions and
    # reassignment, scoring), which write their history; never by hand here, whatever the role.
    readonly_fields = [
        "stage",
        "owner",
        "fit_score",
        "engagement_score",
        "total_score",
        "grade",
        "score_model_version",
        "scored_at",
        "last_activity_at",
        "recycle_count",
        "nurture_until",
        "created_at",
        "updated_at",
    ]

    actions = ["merge_duplicates"]

    def get_search_results(self, request, queryset, search_term):
        """The lead list's search (leadhub.search): every word must match, indexed on PostgreSQL."""
        return search.search_leads(queryset, search_term), False

    def get_changelist(self, request, **kwargs):
        return SearchRankedChangeList

    def save_model(self, request, obj, form, change):
        obj.email = normalize_email(obj.email) or None
        super().save_model(request, obj, form, change)
        search.refresh_search_text([obj.pk])
        services.rescore_after_commit([obj.pk])

    def save_formset(self, request, form, formset, change):
        if formset.model is LeadExternalId:
            for inline_form in formset.forms:
                if inline_form.cleaned_data.get("source"):
                    inline_form.instance.source = clean_source(inline_form.cleaned_data["source"])
        super().save_formset(request, form, formset, change)
        if formset.model is LeadExternalId:
            # External ids are searched too: the inline saves them after the lead.
            search.refresh_search_text([form.instance.pk])

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "duplicates"] if obj else fields

    @admin.display(description="Possible duplicates")
    def duplicates(self, obj):
        # Links to the lead pages, which offer "Merge…" to users allowed to merge.
        twins = possible_duplicates(obj)
        if not twins:
            return "None"
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">{}</a>',
            ((reverse("leads:detail", args=[twin.pk]), twin.email) for twin in twins),
        )

    def has_merge_permission(self, request):
        return request.user.has_perm(MERGE_PERMISSION)

    @admin.action(description="Merge duplicates…", permissions=["merge"])
    def merge_duplicates(self, request, queryset):
        leads = list(queryset[:3])
        if len(leads) != 2:
            self.message_user(request, "Select exactly two leads to merge.", messages.WARNING)
            return None
        return HttpResponseRedirect(merge_url(*merge_order(*leads)))

    def get_urls(self):
        merge = path("merge/", self.admin_site.admin_view(self.merge_view), name="leadhub_lead_merge")
        return [merge, *super().get_urls()]

    def merge_view(self, request):
        """Both leads side by side, which one survives (swappable), then the merge (one service call)."""
        if not self.has_merge_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        leads = Lead.objects.select_related("company", "owner").in_bulk([_int(data.get("survivor")), _int(data.get("duplicate"))])
        survivor, duplicate = leads.get(_int(data.get("survivor"))), leads.get(_int(data.get("duplicate")))
        if request.method == "POST" and (survivor is None or duplicate is None):
            # A merge that lost a race: the other one already merged (deleted) a lead. Say so.
            merged = LeadMerge.objects.filter(duplicate_id__in=[_int(data.get("survivor")), _int(data.get("duplicate"))]).first()
            if merged:
                self.message_user(
                    request,
                    f"{merged.duplicate_email or f'Lead {merged.duplicate_id}'} was already merged into lead {merged.survivor_id} "
                    "a moment ago; nothing more to do.",
                    messages.WARNING,
                )
                return HttpResponseRedirect(reverse("leads:detail", args=[merged.survivor_id]))
            self.message_user(
                request, "One of these leads no longer exists: it was probably merged or deleted a moment ago.", messages.ERROR
            )
            return HttpResponseRedirect(reverse("admin:leadhub_lead_changelist"))
        if survivor is None or duplicate is None:
            raise Http404("No such lead.")
        error = ""
        if request.method == "POST":
            try:
                lead_merge(survivor=survivor, duplicate=duplicate, by=request.user)
            except DomainError as exc:
                error = exc.message
            else:
                self.message_user(
                    request, f"Merged {duplicate.email or duplicate} into {survivor.email or survivor}.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("leads:detail", args=[survivor.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Merge duplicate leads",
            "survivor": survivor,
            "duplicate": duplicate,
            "columns": [
                _merge_column(survivor, "Survives", fill_from=duplicate),
                _merge_column(duplicate, "Merged into it, then deleted"),
            ],
            "swap_url": merge_url(duplicate, survivor),
            "error": error,
        }
        return TemplateResponse(request, "admin/leadhub/lead/merge.html", context, status=200)


def merge_url(survivor, duplicate):
    return f"{reverse('admin:leadhub_lead_merge')}?{urlencode({'survivor': survivor.pk, 'duplicate': duplicate.pk})}"


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _merge_column(lead, role, fill_from=None):
    """What the confirmation page shows of one lead: its profile and how much hangs off it.
    For the survivor, blank fields the duplicate fills are shown with the value they get."""

    def fact(label, field, shown=None):
        value = shown if shown is not None else getattr(lead, field)
        if not value and fill_from is not None and getattr(fill_from, field):
            return (label, getattr(fill_from, field), True)
        return (label, value or "—", False)

    return {
        "lead": lead,
        "role": role,
        "facts": [
            ("Email", lead.email or "—", False),
            ("External ids", ", ".join(map(str, lead.external_ids.all())) or "—", False),
            fact("First name", "first_name"),
            fact("Last name", "last_name"),
            fact("Title", "title"),
            fact("Phone", "phone"),
            fact("Country", "country"),
            fact("Company", "company"),
            ("Channel", lead.get_source_display(), False),
            fact("Campaign", "campaign"),
            ("Stage", lead.get_stage_display(), False),
            ("Owner", lead.owner or "—", False),
            ("Score", f"{lead.total_score} ({lead.grade or 'no grade'})", False),
            ("Created", lead.created_at, False),
        ],
        "counts": [
            ("Activities", Activity.objects.filter(lead=lead).count()),
            ("Stage changes", StageChange.objects.filter(lead=lead).count()),
            ("Handoffs", Handoff.objects.filter(lead=lead).count()),
            ("Open handoffs", Handoff.objects.filter(lead=lead, status="open").count()),
        ],
    }


class LeadFieldAdminForm(forms.ModelForm):
    class Meta:
        model = LeadField
        fields = ["key", "label", "type", "options", "help_text", "show_in_panel", "show_in_list", "position"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        previous = LeadField.objects.get(pk=self.instance.pk) if self.instance.pk else None
        # The rules every writer of definitions follows (leadhub.lead_fields): type kept while
        # leads hold values, options in use kept, key never changes. Checked on the definition
        # as submitted (the instance takes the form's values only after clean()).
        candidate = LeadField(pk=self.instance.pk, key=self.instance.key, label=self.instance.label)
        for name in ("key", "label", "type", "options"):
            if name in cleaned:
                setattr(candidate, name, cleaned[name])
        candidate.options = candidate.options or []
        problems = lead_fields.field_problems(candidate, previous=previous)
        for name, sentence in problems.items():
            self.add_error(name if name in self.fields else None, sentence)
        if not problems and "options" in cleaned:
            cleaned["options"] = candidate.options  # trimmed
        return cleaned


@admin.register(LeadField)
class LeadFieldAdmin(admin.ModelAdmin):
    """Custom lead fields marketers define; values live in each lead's attributes."""

    form = LeadFieldAdminForm
    list_display = ["label", "key", "type", "options_shown", "show_in_panel", "show_in_list", "position"]
    list_editable = ["position"]
    list_filter = ["type", "show_in_panel", "show_in_list"]
    search_fields = ["label", "key"]

    def get_readonly_fields(self, request, obj=None):
        return ["key"] if obj else []

    @admin.display(description="options")
    def options_shown(self, field):
        return ", ".join(field.options) if field.options else "—"

    def delete_view(self, request, object_id, extra_context=None):
        field = self.get_object(request, object_id)
        if field is not None and (problem := lead_fields.lead_field_delete_problem(field)):
            self.message_user(request, problem, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:leadhub_leadfield_change", args=[field.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        lead_fields.lead_field_delete(obj)

    def delete_queryset(self, request, queryset):
        # The list's "delete selected": each field through the in-use check; those in use stay.
        for field in queryset:
            try:
                lead_fields.lead_field_delete(field)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)


@admin.register(Outcome)
class OutcomeAdmin(ReadOnlyAdmin):
    """Leads' results: from the queue, or recorded outside it (API, imports)."""

    list_display = ["lead", "result", "occurred_on", "amount", "origin", "source", "external_id", "created_at"]
    list_filter = ["result", "origin"]
    search_fields = ["lead__email", "external_id"]
    raw_id_fields = ["lead"]
    list_select_related = ["lead"]
    show_full_result_count = False


@admin.register(LeadMerge)
class LeadMergeAdmin(admin.ModelAdmin):
    """Past merges, read only: they are written by the merge service."""

    list_display = ["duplicate_email", "survivor", "by", "at"]
    search_fields = ["duplicate_email", "survivor__email"]
    list_select_related = ["survivor", "by"]
    readonly_fields = ["survivor", "duplicate_id", "duplicate_email", "snapshot", "moved", "by", "at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LeadAlias)
class LeadAliasAdmin(admin.ModelAdmin):
    """Addresses of merged-away leads; ingest and imports for them reach the survivor."""

    list_display = ["email", "lead", "created_at"]
    search_fields = ["email", "lead__email"]
    list_select_related = ["lead"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = ["lead", "kind", "occurred_at", "source", "external_id"]
    list_filter = ["kind", "source"]
    search_fields = ["lead__email", "external_id"]
    raw_id_fields = ["lead"]
    list_select_related = ["lead"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    # Read only: activities arrive through ingest and imports, which keep scoring's daily
    # rollups in step.


@admin.register(ImportMapping)
class ImportMappingAdmin(admin.ModelAdmin):
    """Remembered column mappings; delete one to have the next file's columns guessed afresh."""

    list_display = ["__str__", "updated_by", "updated_at"]
    readonly_fields = ["fingerprint", "header", "fields", "updated_by", "updated_at"]
    list_select_related = ["updated_by"]

    def has_add_permission(self, request):
        return False


@admin.register(LeadImport)
class LeadImportAdmin(admin.ModelAdmin):
    """Imports are made on /leads/import/; the admin only shows them."""

    list_display = [
        "original_name",
        "state",
        "rows_done",
        "rows_total",
        "created_count",
        "updated_count",
        "rejected_count",
        "age",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "channel"]
    search_fields = ["original_name", "campaign"]
    list_select_related = ["created_by"]
    date_hierarchy = "created_at"
    actions = ["resume"]

    @admin.display(description="status", ordering="status")
    def state(self, job):
        return job_state(job, failed=job.status == job.Status.FAILED)

    @admin.display(description="running for")
    def age(self, job):
        return timesince(job.started_at or job.created_at) if job.running else "—"

    def has_import_permission(self, request):
        return request.user.has_perm("leadhub.import_leads")

    @admin.action(description="Resume the selected stalled or failed imports", permissions=["import"])
    def resume(self, request, queryset):
        for job in queryset:
            try:
                import_resume(job=job, by=request.user)
                self.message_user(request, f"Resumed {job.original_name}.", messages.SUCCESS)
            except DomainError as exc:
                self.message_user(request, f"{job.original_name}: {exc.message}", messages.ERROR)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
