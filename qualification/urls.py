from django.urls import path

from . import quality_api

app_name = "qualification"

urlpatterns = [
    path("api/scoring-models/<int:pk>/quality/", quality_api.ScoringModelQualityView.as_view(), name="scoring-model-quality"),
]
