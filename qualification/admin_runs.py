"""Admin for rescoring runs: their progress and failures in plain words, and resume."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from leadhub.admin_base import ReadOnlyAdmin
from leadhub.errors import DomainError

from . import services
from .choices import RunStatus
from .models import RescoreRun
from .run_text import run_sentence

PUBLISH_PERM = "qualification.publish_scoringmodel"


@admin.register(RescoreRun)
class RescoreRunAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "summary", "created_at"]
    list_filter = ["status", "kind"]
    actions = ["resume"]
    change_form_template = "qualification/admin/rescorerun_change_form.html"
    readonly_fields = [
        "summary",
        "model_link",
        "kind",
        "started_by",
        "created_at",
        "started_at",
        "last_progress",
        "finished_at",
        "promoted",
        "nurtured",
        "attempts",
    ]
    fields = readonly_fields[1:]  # the page says the summary above the fields (_run_progress.html)

    @admin.display(description="state")
    def summary(self, run):
        headline, detail = run_sentence(run)
        if run.status == RunStatus.FAILED or run.stalled_since:
            return format_html('<strong class="errornote-inline">{}</strong> {}', headline, detail)
        return format_html("{} {}", headline, detail)

    @admin.display(description="scoring model")
    def model_link(self, run):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:qualification_scoringmodel_change", args=[run.model_id]), run.model
        )

    @admin.display(description="last progress")
    def last_progress(self, run):
        return f"{timezone.localtime(run.heartbeat_at):%b %-d, %Y %H:%M:%S}" if run.heartbeat_at else "—"

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        can_resume = (
            obj is not None and (obj.status == RunStatus.FAILED or obj.stalled_since) and request.user.has_perm(PUBLISH_PERM)
        )
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
