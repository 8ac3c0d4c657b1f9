from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone

from leadhub.admin_base import HistoryInline
from leadhub.errors import ValidationFailed

from . import services
from .models import (
    WEEKDAY_NAMES,
    Escalation,
    EscalationTier,
    Handoff,
    HandoffEvent,
    Qualification,
    RejectionReason,
    SDRProfile,
    SDRProfileChange,
    SLAPolicy,
)
from .services import profiles


@admin.register(RejectionReason)
class RejectionReasonAdmin(admin.ModelAdmin):
    list_display = ["label", "destination", "cooldown_days", "active", "order"]
    list_editable = ["destination", "cooldown_days", "active", "order"]
    list_filter = ["destination", "active"]
    search_fields = ["label"]

    def has_delete_permission(self, request, obj=None):
        # Past decisions point at their reason: retire a reason with "active" instead.
        return False


class SDRProfileAdminForm(forms.ModelForm):
    """Refuses what the team page refuses (services.sdr_profile_update): a capacity out of
    range, an out-of-office end in the past."""

    class Meta:
        model = SDRProfile
        fields = ["user", "available", "out_of_office_until", "capacity"]

    def clean(self):
        cleaned = super().clean()
        routing = {name: cleaned[name] for name in services.PROFILE_LABELS if name in self.changed_data and name in cleaned}
        try:
            profiles.clean_profile_changes(routing, timezone.now())
        except ValidationFailed as exc:
            raise ValidationError({name: messages for name, messages in exc.field_errors.items()})
        return cleaned


class SDRProfileChangeInline(admin.TabularInline):
    model = SDRProfileChange
    fields = ["at", "by", "field", "old_value", "new_value"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SDRProfile)
class SDRProfileAdmin(admin.ModelAdmin):
    """Edits of availability, out of office and capacity go through services.sdr_profile_update,
    so the admin writes the same history as the team page."""

    form = SDRProfileAdminForm
    list_display = ["user", "available", "out_of_office_until", "capacity", "last_assigned_at"]
    list_editable = ["available", "out_of_office_until", "capacity"]
    list_filter = ["available"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    raw_id_fields = ["user"]
    readonly_fields = ["last_assigned_at"]
    list_select_related = ["user"]
    inlines = [SDRProfileChangeInline]

    def get_changelist_form(self, request, **kwargs):
        kwargs.setdefault("form", SDRProfileAdminForm)
        return super().get_changelist_form(request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        routing = {name: getattr(obj, name) for name in services.PROFILE_LABELS if name in form.changed_data}
        if "user" in form.changed_data:
            SDRProfile.objects.filter(pk=obj.pk).update(user=obj.user)
        services.sdr_profile_update(profile=obj, by=request.user, **routing)


class SLAPolicyForm(forms.ModelForm):
    """Business days as checkboxes; the model's clean() refuses policies with no business hours
    and a second active policy for the same channel."""

    workdays = forms.TypedMultipleChoiceField(
        label="Business days",
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=list(enumerate(WEEKDAY_NAMES)),
    )

    class Meta:
        model = SLAPolicy
        fields = ["name", "channel", "response_hours", "workdays", "opens_at", "closes_at", "time_zone", "holidays", "active"]


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    form = SLAPolicyForm
    list_display = ["name", "channel", "response_hours", "weekday_names", "opens_at", "closes_at", "time_zone", "active"]
    list_filter = ["active", "channel"]


@admin.register(EscalationTier)
class EscalationTierAdmin(admin.ModelAdmin):
    list_display = ["name", "action", "delay_minutes", "active"]
    list_editable = ["delay_minutes", "active"]


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    """The record of every escalation step; written by the SLA check only."""

    list_display = ["at", "handoff", "tier", "action", "owner", "due_at"]
    list_filter = ["action", "tier"]
    list_select_related = ["tier", "owner"]
    raw_id_fields = ["handoff", "owner"]
    readonly_fields = [f.name for f in Escalation._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class HandoffEventInline(HistoryInline):
    model = HandoffEvent
    fields = ["at", "kind", "by", "from_owner", "to_owner", "reason", "note"]


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    """Read-mostly: decisions are made in the queue (services), not by editing rows here."""

    list_display = [
        "id",
        "lead",
        "status",
        "owner",
        "channel",
        "created_at",
        "assigned_at",
        "due_at",
        "first_decision_at",
        "rejection_reason",
    ]
    list_filter = ["status", "channel", "rejection_reason"]
    search_fields = ["lead__email", "lead__last_name", "owner__username"]
    list_select_related = ["lead", "owner", "rejection_reason"]
    raw_id_fields = ["lead", "owner", "decided_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [HandoffEventInline]
    readonly_fields = [f.name for f in Handoff._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Qualification)
class QualificationAdmin(admin.ModelAdmin):
    list_display = ["lead", "qualified_at", "opportunity_amount", "outcome", "outcome_at"]
    list_filter = ["outcome"]
    raw_id_fields = ["lead", "handoff", "qualified_by", "outcome_by"]
    readonly_fields = [f.name for f in Qualification._meta.fields]
    list_select_related = ["lead"]

    def has_add_permission(self, request):
        return False
