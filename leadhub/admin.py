from django.contrib import admin

from .models import Activity, Company, ImportMapping, Lead, LeadImport, StageChange
from .services import normalize_email


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "industry", "employee_count", "annual_revenue", "country"]
    list_filter = ["industry", "country"]
    search_fields = ["name", "domain"]


class StageChangeInline(admin.TabularInline):
    model = StageChange
    fields = ["at", "from_stage", "to_stage", "by", "reason", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["email", "first_name", "last_name", "company", "source", "campaign", "stage", "total_score", "grade", "owner", "created_at"]
    list_filter = ["stage", "source", "grade", "created_at"]
    search_fields = ["email", "first_name", "last_name", "company__name"]
    list_select_related = ["company", "owner"]
    autocomplete_fields = ["company"]
    raw_id_fields = ["owner"]
    date_hierarchy = "created_at"
    inlines = [StageChangeInline]
    show_full_result_count = False
    # Stage and scores change only through services (transition, scoring), never by hand here.
    readonly_fields = [
        "stage", "fit_score", "engagement_score", "total_score", "grade", "score_model_version",
        "scored_at", "last_activity_at", "recycle_count", "nurture_until", "created_at", "updated_at",
    ]

    def save_model(self, request, obj, form, change):
        obj.email = normalize_email(obj.email)
        super().save_model(request, obj, form, change)


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["lead", "kind", "occurred_at", "source", "external_id"]
    list_filter = ["kind", "source"]
    search_fields = ["lead__email", "external_id"]
    raw_id_fields = ["lead"]
    list_select_related = ["lead"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


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

    list_display = ["original_name", "status", "rows_total", "created_count", "updated_count", "rejected_count", "created_by", "created_at"]
    list_filter = ["status", "channel"]
    search_fields = ["original_name", "campaign"]
    list_select_related = ["created_by"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
