"""Scoring over the API: serializers other apps' APIs embed (the lead API's explanation), and
/api/scoring-models/ (list, read, create a draft from a JSON document, preview, suggest weights,
publish) for the Marketing role and admins."""

from django.db import models as db_models
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.reverse import reverse

from leadhub.api_input import StrictInput
from leadhub.errors import ValidationFailed
from leadhub.schema import ErrorSerializer

from . import model_json, services
from . import suggest as suggestions
from .models import EngagementRule, FitRule, ScoringModel
from .suggest_models import SuggestionRun


class ContributionSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["fit", "engagement"])
    rule = serializers.CharField()
    points = serializers.DecimalField(max_digits=8, decimal_places=1, coerce_to_string=False)
    text = serializers.CharField(help_text="The rule and, for engagement, the decay arithmetic.")


class LeadExplanationSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(allow_null=True)
    scored_at = serializers.DateTimeField(allow_null=True)
    fit = serializers.DecimalField(max_digits=8, decimal_places=1, coerce_to_string=False, required=False)
    engagement = serializers.DecimalField(max_digits=8, decimal_places=1, coerce_to_string=False, required=False)
    total = serializers.DecimalField(max_digits=8, decimal_places=1, coerce_to_string=False, required=False)
    grade = serializers.CharField(required=False)
    qualifies = serializers.BooleanField()
    missing_required_fields = serializers.ListField(child=serializers.CharField())
    contributions = ContributionSerializer(many=True, help_text="They add up to the stored total.")


# --- scoring models over the API (for teams that keep scoring in version control) -------------
# The document format is qualification.model_json's (docs/scoring-model-json.md); the admin's
# "Export as JSON" and "Import from JSON" use the same.

EDIT_PERM = "qualification.change_scoringmodel"
PUBLISH_PERM = "qualification.publish_scoringmodel"


class ScoringModelsPermission(permissions.BasePermission):
    """The Marketing role and admins: they edit scoring (change_scoringmodel), reads included;
    SDRs and managers may view models in the admin but not use this API. Publishing also needs
    the publish permission."""

    message = "Only the Marketing role and admins work with scoring models."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.has_perm(EDIT_PERM)):
            return False
        return view.action != "publish" or user.has_perm(PUBLISH_PERM)


class _NumberDecimals(serializers.ModelSerializer):
    """Decimals as JSON numbers, as the document has them."""

    def build_standard_field(self, field_name, model_field):
        cls, kwargs = super().build_standard_field(field_name, model_field)
        if cls is serializers.DecimalField:
            kwargs["coerce_to_string"] = False
        return cls, kwargs


class ModelSettingsSerializer(_NumberDecimals):
    class Meta:
        model = ScoringModel
        fields = model_json.SETTINGS
        extra_kwargs = {
            "required_fields": {"help_text": "Fields a lead must have to become an MQL (first_name, last_name, ...)."}
        }


class FitRuleDocumentSerializer(_NumberDecimals):
    class Meta:
        model = FitRule
        fields = [f.name for f in model_json.rule_fields(FitRule)]


class EngagementRuleDocumentSerializer(_NumberDecimals):
    class Meta:
        model = EngagementRule
        fields = [f.name for f in model_json.rule_fields(EngagementRule)]


class ScoringModelDocumentSerializer(serializers.Serializer):
    """A scoring model as a document: what GET returns and POST creates a draft from."""

    format = serializers.CharField(required=False, help_text=f"“{model_json.FORMAT}”.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=120)
    settings = ModelSettingsSerializer(required=False)
    fit_rules = FitRuleDocumentSerializer(many=True, required=False)
    engagement_rules = EngagementRuleDocumentSerializer(many=True, required=False)


class ScoringModelDetailSerializer(ScoringModelDocumentSerializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["draft", "published", "archived"])
    published_at = serializers.DateTimeField(allow_null=True)


class ScoringModelSummarySerializer(serializers.ModelSerializer):
    fit_rules = serializers.IntegerField(source="fit_count", help_text="How many fit rules.")
    engagement_rules = serializers.IntegerField(source="engagement_count", help_text="How many engagement rules.")
    mql_threshold = serializers.DecimalField(max_digits=7, decimal_places=1, coerce_to_string=False)

    class Meta:
        model = ScoringModel
        fields = ["id", "version", "name", "status", "mql_threshold", "min_grade", "created_at", "published_at"]
        fields += ["fit_rules", "engagement_rules"]


class PreviewReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()
    leads = serializers.IntegerField()


class PreviewRuleChangeSerializer(serializers.Serializer):
    change = serializers.ChoiceField(choices=["added", "removed", "changed"])
    sentence = serializers.CharField()
    was = serializers.CharField(required=False)
    delta = serializers.CharField(required=False)


class PreviewBandSerializer(serializers.Serializer):
    band = serializers.CharField()
    now = serializers.IntegerField(help_text="Leads in this score band now.")
    draft = serializers.IntegerField(help_text="…and under the draft.")


class PreviewSerializer(serializers.Serializer):
    draft_version = serializers.IntegerField()
    current_version = serializers.IntegerField(allow_null=True, help_text="The published model's version.")
    leads = serializers.IntegerField()
    mql_now = serializers.IntegerField()
    mql_after = serializers.IntegerField()
    promoted = serializers.IntegerField(help_text="New and nurture leads publishing moves to MQL.")
    nurtured = serializers.IntegerField(help_text="New leads publishing moves to nurture.")
    qualify_now = serializers.IntegerField()
    qualify_draft = serializers.IntegerField()
    entering = serializers.IntegerField()
    leaving = serializers.IntegerField()
    net = serializers.IntegerField()
    held_by_cooldown = serializers.IntegerField()
    held_past_mql = serializers.IntegerField()
    enter_reasons = PreviewReasonSerializer(many=True)
    leave_reasons = PreviewReasonSerializer(many=True)
    blocked_reasons = PreviewReasonSerializer(many=True)
    setting_changes = serializers.ListField(child=serializers.CharField())
    rule_changes = PreviewRuleChangeSerializer(many=True)
    distribution = PreviewBandSerializer(many=True)


def preview_summary(result):
    reasons = lambda pairs: [{"reason": str(text), "leads": n} for text, n in pairs]  # noqa: E731
    return {
        **{
            name: getattr(result, name)
            for name in [
                "draft_version",
                "current_version",
                "leads",
                "mql_now",
                "mql_after",
                "promoted",
                "nurtured",
                "qualify_now",
                "qualify_draft",
                "entering",
                "leaving",
                "net",
                "held_by_cooldown",
                "held_past_mql",
            ]
        },
        "enter_reasons": reasons(result.enter_reasons),
        "leave_reasons": reasons(result.leave_reasons),
        "blocked_reasons": reasons(result.blocked_reasons),
        "setting_changes": [str(s) for s in result.setting_changes],
        "rule_changes": [
            {k: str(v) for k, v in change.items() if k in ("change", "sentence", "was", "delta") and v not in (None, "")}
            for change in result.rule_changes
        ],
        "distribution": [{"band": str(band), "now": now, "draft": draft} for band, now, draft in result.distribution],
    }


class SuggestOptionsSerializer(StrictInput):
    label = serializers.ChoiceField(
        choices=list(suggestions.data.LABELS),
        required=False,
        help_text="outcome (won vs lost) or acceptance (SDR accept vs reject).",
    )
    horizon_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="A lead without a win this long after creation is negative."
    )
    channel = serializers.CharField(required=False, allow_blank=True, max_length=20, help_text="Only leads of this channel.")
    campaign = serializers.CharField(required=False, allow_blank=True, max_length=120, help_text="Only leads of this campaign.")
    field = serializers.RegexField(
        r"^[a-z0-9_]*$", required=False, allow_blank=True, max_length=40, help_text="A custom choice field's key…"
    )
    field_value = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text="…and its value.")
    created_from = serializers.DateField(required=False, allow_null=True)
    created_to = serializers.DateField(required=False, allow_null=True)
    mql_rate = serializers.FloatField(
        min_value=0.0001, max_value=0.9999, required=False, allow_null=True, help_text="Share of leads to qualify."
    )
    precision = serializers.FloatField(
        min_value=0.0001, max_value=0.9999, required=False, allow_null=True, help_text="Or: the precision to reach."
    )
    window_days = serializers.IntegerField(min_value=1, max_value=365, required=False, help_text="Activity window.")


class SuggestionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["pending", "running", "done", "failed"])
    progress = serializers.IntegerField(help_text="Percent done.")
    step = serializers.CharField()
    url = serializers.CharField(help_text="Poll this until status is done or failed.")
    draft_id = serializers.IntegerField(allow_null=True, help_text="The draft it created, when done.")
    auc = serializers.FloatField(allow_null=True, help_text="The draft's ROC AUC on the held-out leads.")
    auc_published = serializers.FloatField(allow_null=True, help_text="The published model's, on the same leads.")
    error = serializers.CharField(help_text="Why it failed.")
    result = serializers.DictField(help_text="Held-out split, lead counts, each rule's coefficient, what was left out.")


def suggestion_body(request, run):
    result = run.result or {}
    return {
        "id": run.pk,
        "status": run.status,
        "progress": run.progress,
        "step": run.step,
        "url": reverse("scoring-suggestion-detail", args=[run.pk], request=request),
        "draft_id": run.draft_id,
        "auc": result.get("auc"),
        "auc_published": result.get("auc_published"),
        "error": run.error,
        "result": result,
    }


class PublishInputSerializer(StrictInput):
    note = serializers.CharField(max_length=2000, help_text="Why you publish: it goes in the model's history.")
    daily_cap = serializers.IntegerField(
        min_value=1,
        max_value=100_000,
        required=False,
        allow_null=True,
        help_text="Open the new handoffs at most this many a day.",
    )


class PublishResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    run_id = serializers.IntegerField(help_text="The rescoring run of all leads it started.")
    daily_cap = serializers.IntegerField(allow_null=True)


CONFLICT = OpenApiResponse(ErrorSerializer, "Not allowed now: `detail` says why (not a draft, a rescoring run in progress).")


@extend_schema(tags=["scoring-models"])
class ScoringModelViewSet(viewsets.GenericViewSet):
    """Scoring models: list, read one with its rules, create a draft from a document, preview,
    suggest weights from outcomes, publish. The Marketing role and admins only."""

    permission_classes = [ScoringModelsPermission]
    queryset = ScoringModel.objects.all()
    serializer_class = ScoringModelSummarySerializer

    def get_queryset(self):
        return ScoringModel.objects.annotate(
            fit_count=db_models.Count("fit_rules", distinct=True),
            engagement_count=db_models.Count("engagement_rules", distinct=True),
        ).order_by("-version")

    def _document(self, model):
        model = ScoringModel.objects.prefetch_related("fit_rules", "engagement_rules").get(pk=model.pk)
        return {**model_json.export_model(model), "id": model.pk, "published_at": model.published_at}

    @extend_schema(responses=ScoringModelSummarySerializer(many=True))
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ScoringModelSummarySerializer(page, many=True).data)

    @extend_schema(responses=ScoringModelDetailSerializer)
    def retrieve(self, request, pk=None):
        return Response(self._document(self.get_object()))

    @extend_schema(
        request=ScoringModelDocumentSerializer,
        responses={201: ScoringModelDetailSerializer},
        description="Create a draft from a document, validated as the admin's editor does; nothing is written unless "
        "all of it is valid (400 with every error keyed by where it is: settings.mql_threshold, fit_rules.0.operator).",
    )
    def create(self, request):
        model = model_json.import_model(request.data)
        return Response(self._document(model), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: PreviewSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        """What publishing this model would do, computed without writing."""
        model = self.get_object()
        try:
            result = services.preview(draft=model)
        except ValueError as exc:  # a rule value that does not parse
            raise ValidationFailed(str(exc))
        return Response(preview_summary(result))

    @extend_schema(request=SuggestOptionsSerializer, responses={202: SuggestionSerializer})
    @action(detail=True, methods=["post"])
    def suggest(self, request, pk=None):
        """Suggest weights from outcomes: starts a run that fits and creates a draft (never publishes). Poll `url`."""
        model = self.get_object()
        serializer = SuggestOptionsSerializer(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        options = suggestions.parse_options(serializer.validated_data)
        run = suggestions.start_suggestion(model=model, by=request.user, options=options)
        run.refresh_from_db()
        body = suggestion_body(request, run)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})

    @extend_schema(request=PublishInputSerializer, responses={200: PublishResultSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        """Publish a draft (archives the published model, rescores all leads), with why and how its handoffs open."""
        model = self.get_object()
        serializer = PublishInputSerializer(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        cap = serializer.validated_data.get("daily_cap")
        run = services.publish(draft=model, by=request.user, note=serializer.validated_data["note"], daily_cap=cap)
        model.refresh_from_db()
        return Response({"id": model.pk, "version": model.version, "status": model.status, "run_id": run.pk, "daily_cap": cap})


@extend_schema(tags=["scoring-models"])
class SuggestionViewSet(viewsets.GenericViewSet):
    """Suggestion runs (POST /api/scoring-models/{id}/suggest/ starts one): progress, and when
    done the draft's id and its held-out AUC. The Marketing role and admins only."""

    permission_classes = [ScoringModelsPermission]
    queryset = SuggestionRun.objects.select_related("model")
    serializer_class = SuggestionSerializer

    @extend_schema(responses=SuggestionSerializer)
    def retrieve(self, request, pk=None):
        return Response(suggestion_body(request, self.get_object()))
