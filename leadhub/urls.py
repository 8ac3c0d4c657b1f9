from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from handoff import api as handoff_api
from qualification import api as qualification_api

from . import api, api_lead_fields, api_outcomes, api_support, api_taxonomy, health, import_views, views

router = DefaultRouter()
router.register("leads", api.LeadViewSet, basename="lead")
router.register("activities", api.ActivityViewSet, basename="activity")
router.register("outcomes", api_outcomes.OutcomeViewSet, basename="outcome")
router.register("lead-fields", api_lead_fields.LeadFieldViewSet, basename="lead-field")
router.register("activity-kinds", api_taxonomy.ActivityKindViewSet, basename="activity-kind")
router.register("handoffs", handoff_api.HandoffViewSet, basename="handoff")
router.register("leads", handoff_api.LeadSalesViewSet, basename="lead-sales")
router.register("scoring-models", qualification_api.ScoringModelViewSet, basename="scoring-model")
router.register("scoring-suggestions", qualification_api.SuggestionViewSet, basename="scoring-suggestion")

lead_patterns = (
    [
        path("", views.lead_list, name="list"),
        path("<int:pk>/", views.lead_detail, name="detail"),
        path("export.csv", views.lead_export, name="export"),
        path("campaigns/", views.campaign_suggestions, name="campaigns"),
        path("import/", import_views.import_start, name="import"),
        path("import/<int:pk>/", import_views.import_detail, name="import-detail"),
        path("import/<int:pk>/progress/", import_views.import_progress, name="import-progress"),
        path("import/<int:pk>/commit/", import_views.import_commit, name="import-commit"),
        path("import/<int:pk>/rejected.csv", import_views.import_rejected_csv, name="import-rejected"),
    ],
    "leads",
)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("leads/", include(lead_patterns)),
    path("activities/import/", import_views.activity_import_start, name="activity-import"),
    path("", include("handoff.urls")),
    path("", include("qualification.urls")),
    path("account/", views.account, name="account"),
    path("my-sals/", views.my_sals, name="my-sals"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # DRF views authenticate themselves (401/403); the docs page is for people, so it redirects.
    path("api/docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("api/", include(router.urls)),
    path("api/<path:rest>", api_support.api_not_found),
]
