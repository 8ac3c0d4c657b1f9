"""REST API for lead records: upsert and read leads, push activity batches."""

from django.conf import settings
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.utils import translate_validation
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from qualification.api import LeadExplanationSerializer
from qualification.selectors import lead_explanation

from . import selectors, services
from .api_input import (  # noqa: F401  (handoff.api and the tests use these from here)
    ActivityBatchResultSerializer,
    ActivityBatchSerializer,
    AttributesField,
    LeadUpsertSerializer,
    StrictInput,
    amount_field,
    parse_activity_items,
)
from .errors import ValidationFailed
from .filters import LeadFilter
from .models import Activity, Company, Lead, LeadExternalId, StageChange
from .pagination import KeysetPagination
from .permissions import ModelPermissions


class CompanySerializer(serializers.ModelSerializer):
    class Meta:
        model = Company
        fields = ["id", "domain", "name", "industry", "employee_count", "annual_revenue", "country"]


class ExternalIdSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id", help_text="The lead's id in that system.")

    class Meta:
        model = LeadExternalId
        fields = ["source", "id"]


class LeadSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(allow_null=True, read_only=True, help_text="Null for a lead known by phone or id only.")
    external_ids = ExternalIdSerializer(many=True, read_only=True, help_text="The lead's ids in other systems.")
    attributes = AttributesField(read_only=True, help_text="Custom field values by key (GET /api/lead-fields/).")
    channel = serializers.CharField(source="source")
    company = CompanySerializer(read_only=True, allow_null=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "external_ids",
            "first_name",
            "last_name",
            "title",
            "phone",
            "country",
            "company",
            "channel",
            "campaign",
            "attributes",
            "stage",
            "owner",
            "fit_score",
            "engagement_score",
            "total_score",
            "grade",
            "score_model_version",
            "last_activity_at",
            "recycle_count",
            "nurture_until",
            "created_at",
            "updated_at",
        ]


class ActivitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Activity
        fields = ["id", "kind", "occurred_at", "properties", "source", "external_id"]


class StageChangeSerializer(serializers.ModelSerializer):
    by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Null for changes made by scoring."
    )

    class Meta:
        model = StageChange
        fields = ["from_stage", "to_stage", "at", "by", "reason", "note"]


class LeadDetailSerializer(LeadSerializer):
    activities = serializers.SerializerMethodField()
    stage_history = StageChangeSerializer(source="stage_changes", many=True, read_only=True)
    explanation = serializers.SerializerMethodField()

    class Meta(LeadSerializer.Meta):
        fields = [*LeadSerializer.Meta.fields, "activities", "stage_history", "explanation"]

    @extend_schema_field(LeadExplanationSerializer)
    def get_explanation(self, lead):
        return LeadExplanationSerializer(lead_explanation(lead)).data

    @extend_schema_field(ActivitySerializer(many=True))
    def get_activities(self, lead):
        return ActivitySerializer(selectors.lead_timeline(lead), many=True).data


class LeadUpsertPermissions(ModelPermissions):
    """An upsert may create or change a lead, so it needs both permissions."""

    perms_map = {
        **ModelPermissions.perms_map,
        "POST": ["%(app_label)s.add_%(model_name)s", "%(app_label)s.change_%(model_name)s"],
    }


@extend_schema_view(
    list=extend_schema(
        description="Filters and search as on the lead list. Custom fields filter too: `attr_<key>=<value>` for "
        "choice, yes/no and text fields (equality), `attr_<key>_min=` / `attr_<key>_max=` for number and date "
        "fields (inclusive); GET /api/lead-fields/ lists the keys. A value that does not fit its field is a 400."
    )
)
class LeadViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Leads: list with filters, read one with its activities and stage history, upsert by email."""

    queryset = selectors.lead_list()
    permission_classes = [LeadUpsertPermissions]
    filterset_class = LeadFilter
    pagination_class = KeysetPagination

    def filter_queryset(self, queryset):
        """The filters and search (LeadFilter), keeping the sort's keyset keys for the pages."""
        if self.action != "list":
            return super().filter_queryset(queryset)
        backend = DjangoFilterBackend()
        filterset = backend.get_filterset(self.request, queryset, self)
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        self.sort_keys = filterset.sort_keys()
        return filterset.qs

    def get_queryset(self):
        if self.action == "retrieve":
            return super().get_queryset().prefetch_related("stage_changes__by", "external_ids")
        return super().get_queryset().prefetch_related("external_ids")

    def get_serializer_class(self):
        if self.action == "retrieve":
            return LeadDetailSerializer
        if self.action == "create":
            return LeadUpsertSerializer
        return LeadSerializer

    @extend_schema(
        request=LeadUpsertSerializer,
        responses={
            201: LeadSerializer,
            200: LeadSerializer,
            400: OpenApiResponse(
                description="Invalid fields, e.g. a custom field value: "
                '{"detail": "…", "errors": {"attributes": {"employees_band": ["“x” is not one of …"]}}}.'
            ),
            409: OpenApiResponse(description="The email and the external id belong to two different leads (merge them first)."),
        },
        summary="Create or update a lead by email or external id",
        description='Find the lead by `email` or by `external_id` ({"source": "crm", "id": "00Q5e…"}; several as '
        "`external_ids`), update the fields given, or create it. Email is optional when an id is given. "
        "`attributes` are custom field values, checked against their definitions.",
    )
    def create(self, request):
        serializer = LeadUpsertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lead, created = services.upsert_lead(**serializer.to_service_kwargs())
        duplicate_ids = lead.possible_duplicate_ids
        lead = selectors.lead_list().prefetch_related("external_ids").get(pk=lead.pk)
        # Same-person candidates (plus-addressing, case) for a new lead; never merged automatically.
        data = {**LeadSerializer(lead).data, "possible_duplicate_ids": duplicate_ids}
        return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ActivityViewSet(viewsets.GenericViewSet):
    """Activities arrive in batches; replays are recognised by (source, external_id)."""

    queryset = Activity.objects.all()
    serializer_class = ActivityBatchSerializer

    @extend_schema(
        request=ActivityBatchSerializer,
        responses={
            200: ActivityBatchResultSerializer,
            400: OpenApiResponse(description="Invalid items, by index; nothing written."),
        },
        summary="Record a batch of up to 1,000 activities",
        description='Send {"activities": [...]} (a bare list is accepted too). Items already '
        "recorded (same source and external_id) are reported as known and not written again.",
    )
    def create(self, request):
        data = request.data
        if isinstance(data, list):
            data = {"activities": data}
        if not isinstance(data, dict):
            raise ValidationFailed("Send a JSON object with an “activities” list.")
        items = data.get("activities")
        if isinstance(items, list) and len(items) > settings.ACTIVITY_BATCH_LIMIT:
            raise ValidationFailed(
                f"A batch holds at most {settings.ACTIVITY_BATCH_LIMIT} activities; this one has {len(items)}.",
                field_errors={"activities": [f"Ensure this list has at most {settings.ACTIVITY_BATCH_LIMIT} items."]},
            )
        if not isinstance(items, list) or not items:
            raise ValidationFailed(
                "Send a non-empty “activities” list.",
                field_errors={"activities": ["Send a non-empty list of activities."]},
            )
        valid, errors = parse_activity_items(items)
        if errors:
            raise ValidationFailed("Some activities are invalid; nothing was recorded.", field_errors={"activities": errors})
        try:
            outcomes = services.record_activities(items=valid)
        except ValidationFailed as exc:
            if exc.field_errors:
                exc.field_errors = {"activities": {str(k): v for k, v in exc.field_errors.items()}}
            raise
        created = sum(1 for o in outcomes if o.status == "created")
        body = {
            "created": created,
            "known": len(outcomes) - created,
            # Plain dicts: dataclasses.asdict deep-copies each field, a cost at 1,000 items a batch.
            "items": [{"index": o.index, "source": o.source, "external_id": o.external_id, "status": o.status} for o in outcomes],
        }
        return Response(body, status=status.HTTP_200_OK)
