from django.urls import path

from . import team, views
from .views.quality import feedback_quality

app_name = "handoff"

urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("queue/export.csv", views.queue_csv, name="queue-csv"),
    path("queue/<int:pk>/panel/", views.panel, name="panel"),
    path("queue/<int:pk>/row/", views.row, name="row"),
    path("queue/<int:pk>/accept/", views.accept, name="accept"),
    path("queue/<int:pk>/reject/", views.reject, name="reject"),
    path("queue/<int:pk>/claim/", views.claim, name="claim"),
    path("queue/<int:pk>/reassign/", views.reassign, name="reassign"),
    path("queue/notices/<int:pk>/dismiss/", views.notice_dismiss, name="notice-dismiss"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/export.csv", views.dashboard_csv, name="dashboard-csv"),
    path("team/", team.team, name="team"),
    path("team/<int:pk>/", team.team_profile, name="team-profile"),
    path("feedback/", views.feedback, name="feedback"),
    path("feedback/export.csv", views.feedback_csv, name="feedback-csv"),
    path("feedback/quality/", feedback_quality, name="feedback-quality"),
    path("leads/<int:pk>/checklist/", views.lead_checklist, name="lead-checklist"),
    path("leads/<int:pk>/outcome/", views.lead_outcome, name="lead-outcome"),
    path("leads/<int:pk>/recycle/", views.lead_recycle, name="lead-recycle"),
]
