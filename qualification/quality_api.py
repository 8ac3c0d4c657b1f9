"""`GET /api/scoring-models/{id}/quality/`: the quality report of one model version as JSON
(qualification.quality.report), for the Marketing role and admins. Its own view and route: the
rest of /api/scoring-models/ is a router viewset elsewhere."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from leadhub.roles import MARKETING
from leadhub.schema import ErrorSerializer

from . import quality
from .models import ScoringModel
from .quality_forms import QualityForm
from .quality_labels import ACCEPTANCE, OUTCOME


class IsMarketingOrAdmin(BasePermission):
    """Marketers (the Marketing role) and superusers; everyone else is refused (403)."""

    message = "Only marketers and admins can read a scoring model's quality."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (user.is_superuser or user.groups.filter(name=MARKETING).exists()))


def _group(name):
    return inline_serializer(
        many=True,
        name=name,
        fields={
            "label": serializers.CharField(),
            "n": serializers.IntegerField(),
            "positives": serializers.IntegerField(),
            "rate": serializers.FloatField(allow_null=True, help_text="Conversion rate, %."),
            "rate_low": serializers.FloatField(allow_null=True, help_text="Wilson 95 % interval, low end, %."),
            "rate_high": serializers.FloatField(allow_null=True),
            "lift": serializers.FloatField(allow_null=True, help_text="Rate ÷ the overall rate."),
        },
    )


QualitySerializer = inline_serializer(
    name="ScoringModelQuality",
    fields={
        "model": serializers.DictField(),
        "label": serializers.ChoiceField(choices=[OUTCOME, ACCEPTANCE]),
        "label_text": serializers.CharField(),
        "period": serializers.DictField(help_text="date_from, date_to, horizon_days, channel, campaign, field, text."),
        "as_of": serializers.DateTimeField(
            help_text="Every score is computed as of this moment (the end of the period, or now)."
        ),
        "n": serializers.IntegerField(help_text="Labelled leads the figures rest on."),
        "positives": serializers.IntegerField(),
        "left_out": serializers.IntegerField(help_text="Leads of the period still open (no label yet)."),
        "base_rate": serializers.FloatField(allow_null=True),
        "auc": serializers.FloatField(allow_null=True, help_text="ROC AUC of the total score; null without both kinds of lead."),
        "auc_low": serializers.FloatField(allow_null=True, help_text="DeLong 95 % interval."),
        "auc_high": serializers.FloatField(allow_null=True),
        "roc": serializers.ListField(child=serializers.ListField(child=serializers.FloatField()), help_text="[fpr, tpr] points."),
        "deciles": _group("QualityDecile"),
        "bands": _group("QualityBand"),
        "grades": _group("QualityGrade"),
        "mql": serializers.DictField(help_text="threshold, selected, precision, recall, missed, missed_url."),
        "rules": serializers.ListField(child=serializers.DictField()),
        "verdict": serializers.CharField(),
    },
)


class ScoringModelQualityView(APIView):
    permission_classes = [IsMarketingOrAdmin]

    @extend_schema(
        operation_id="scoring_models_quality",
        tags=["scoring-models"],
        summary="How well a scoring model version ranks past leads",
        parameters=[
            OpenApiParameter("label", str, enum=[OUTCOME, ACCEPTANCE], description="Default outcome."),
            OpenApiParameter("date_from", OpenApiTypes.DATE, description="Leads created from (default: a year ago)."),
            OpenApiParameter("date_to", OpenApiTypes.DATE, description="…to (inclusive; default today)."),
            OpenApiParameter("horizon", int, description="Days after MQL (or creation) a win counts; default 90."),
            OpenApiParameter("channel", str),
            OpenApiParameter("campaign", str),
            OpenApiParameter("field", str, description="A custom choice field's value: key=value."),
        ],
        responses={
            200: QualitySerializer,
            400: OpenApiResponse(ErrorSerializer, "A parameter is not valid (an unknown custom field or option, a bad period)."),
        },
    )
    def get(self, request, pk):
        model = get_object_or_404(ScoringModel, pk=pk)
        form = QualityForm(request.query_params, with_model=False)
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        try:
            return Response(quality.report(model, form.period()))
        except ValueError as exc:  # a rule value that no longer parses
            raise ValidationError({"model": [str(exc)]}) from exc
