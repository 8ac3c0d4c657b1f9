"""Admin for rescoring runs: their progress and failures in plain words, and resume."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.timesince import timesince

from leadhub.admin import ReadOnlyAdmin
from leadhub.errors import DomainError
from leadhub.formatting import job_state

from . import services
from .choices import RunStatus
from .models import RescoreRun

PUBLISH_PERM = "qualification.publish_scoringmodel"


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
