"""REST API of the queue: list handoffs with the queue's filters, decide on them, work SALs.

Serializers check types; the services check state and permission and raise domain errors,
which leadhub.api_support turns into 400/403/409 with a sentence."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from leadhub.api import StrictInput, amount_field
from leadhub.errors import ValidationFailed
from leadhub.models import Lead
from leadhub.validation import INT32_MAX

from . import services
from .choices import Outcome
from .filters import HandoffFilter, queue_workers
from .models import Handoff, Qualification

ERRORS = {
    400: OpenApiResponse(description="Invalid input: `detail` says why, `errors` by field. Nothing written."),
    403: OpenApiResponse(description="Your role or this handoff's owner does not allow it."),
    409: OpenApiResponse(description="The handoff or lead changed first (already decided, claimed, not in that stage)."),
}


class CanViewHandoffs(BasePermission):
    """Reading needs handoff.view_handoff; what a user may change is the services' call."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.has_perm("handoff.view_handoff"))


class HandoffSerializer(serializers.ModelSerializer):
    lead = serializers.SerializerMethodField()
    owner = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Null while in the pool."
    )
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    rejection_reason = serializers.SlugRelatedField(slug_field="label", read_only=True, allow_null=True)

    class Meta:
        model = Handoff
        fields = [
            "id",
            "lead",
            "status",
            "owner",
            "channel",
            "campaign",
            "score_at_handoff",
            "grade_at_handoff",
            "created_at",
            "assigned_at",
            "due_at",
            "first_decision_at",
            "decided_by",
            "rejection_reason",
            "note",
        ]

    def get_lead(self, handoff) -> dict:
        lead = handoff.lead
        return {
            "id": lead.id,
            "email": lead.email,
            "name": lead.full_name,
            "title": lead.title,
            "stage": lead.stage,
            "company": lead.company.name if lead.company_id else None,
            "total_score": str(lead.total_score),
            "grade": lead.grade,
        }


class NoteInput(StrictInput):
    note = serializers.CharField(required=False, allow_blank=True, max_length=services.NOTE_MAX_LENGTH, default="")


class RejectInput(NoteInput):
    reason = serializers.IntegerField(
        min_value=1,
        max_value=INT32_MAX,
        help_text="A rejection reason's id.",
        error_messages={"required": "Choose a reason.", "null": "Choose a reason."},
    )


class ReassignInput(NoteInput):
    owner = serializers.CharField(allow_null=True, help_text="Username of the new owner; null sends it to the pool.")


class QualifyInput(StrictInput):
    buying_cycle = serializers.BooleanField(required=False, default=False)
    influencer = serializers.BooleanField(required=False, default=False)
    timeframe_known = serializers.BooleanField(required=False, default=False)
    opportunity_amount = amount_field(
        max_digits=14, decimal_places=2, max_value=Decimal("999999999999.99"), required=False, allow_null=True
    )
    permission_to_follow_up = serializers.BooleanField(required=False, default=False)
    budget_note = serializers.CharField(required=False, allow_blank=True, default="")
    authority_note = serializers.CharField(required=False, allow_blank=True, default="")
    need_note = serializers.CharField(required=False, allow_blank=True, default="")
    timeline_note = serializers.CharField(required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class OutcomeInput(StrictInput):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    lost_reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class QualificationSerializer(serializers.ModelSerializer):
    stage = serializers.CharField(source="lead.stage", read_only=True)

    class Meta:
        model = Qualification
        fields = [
            "lead",
            "stage",
            "buying_cycle",
            "influencer",
            "timeframe_known",
            "opportunity_amount",
            "permission_to_follow_up",
            "budget_note",
            "authority_note",
            "need_note",
            "timeline_note",
            "qualified_at",
            "outcome",
            "lost_reason",
            "outcome_at",
        ]


def _valid(serializer_class, request):
    serializer = serializer_class(data=request.data)
    if not serializer.is_valid():
        raise ValidationFailed("The request has invalid fields.", field_errors=serializer.errors)
    return serializer.validated_data


class HandoffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Handoffs: list with the queue's filters (open ones by default), and the decisions on one."""

    queryset = Handoff.objects.select_related("lead", "lead__company", "owner", "decided_by", "rejection_reason")
    serializer_class = HandoffSerializer
    permission_classes = [CanViewHandoffs]
    filterset_class = HandoffFilter

    def filter_queryset(self, queryset):
        # The queue's filters (open, mine and the pool by default) shape lists only; a
        # decision on a handoff that changed meanwhile must reach the service and get its 409.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def _answer(self, handoff):
        return Response(HandoffSerializer(self.get_queryset().get(pk=handoff.pk)).data)

    @extend_schema(request=NoteInput, responses={200: HandoffSerializer, **ERRORS}, summary="Accept: the lead becomes a SAL")
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        data = _valid(NoteInput, request)
        return self._answer(services.handoff_accept(handoff=self.get_object(), by=request.user, note=data["note"]))

    @extend_schema(
        request=RejectInput,
        responses={200: HandoffSerializer, **ERRORS},
        summary="Reject with a reason: the lead goes back to nurture or is disqualified",
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = _valid(RejectInput, request)
        return self._answer(
            services.handoff_reject(handoff=self.get_object(), by=request.user, reason=data.get("reason"), note=data["note"])
        )

    @extend_schema(request=None, responses={200: HandoffSerializer, **ERRORS}, summary="Claim a pool handoff")
    @action(detail=True, methods=["post"])
    def claim(self, request, pk=None):
        return self._answer(services.handoff_claim(handoff=self.get_object(), by=request.user))

    @extend_schema(
        request=ReassignInput, responses={200: HandoffSerializer, **ERRORS}, summary="Reassign an open handoff (sales managers)"
    )
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        data = _valid(ReassignInput, request)
        to_user = None
        if data["owner"]:
            to_user = get_user_model().objects.filter(username=data["owner"]).first()
            if to_user is None or not queue_workers().filter(pk=to_user.pk).exists():
                raise ValidationFailed("Choose someone who works the queue.", field_errors={"owner": ["Unknown or not an SDR."]})
        return self._answer(
            services.handoff_reassign(handoff=self.get_object(), by=request.user, to_user=to_user, note=data["note"])
        )


class CanViewLeads(BasePermission):
    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.has_perm("leadhub.view_lead"))


class LeadSalesViewSet(viewsets.GenericViewSet):
    """Working a SAL: qualify to SQL with the checklist, record the outcome, recycle."""

    queryset = Lead.objects.all()
    permission_classes = [CanViewLeads]
    serializer_class = QualificationSerializer

    @extend_schema(
        request=QualifyInput,
        responses={200: QualificationSerializer, **ERRORS},
        summary="Qualify a SAL to SQL (every required checklist item confirmed)",
    )
    @action(detail=True, methods=["post"])
    def qualify(self, request, pk=None):
        data = dict(_valid(QualifyInput, request))
        note = data.pop("note")
        qualification = services.lead_qualify(lead=self.get_object(), by=request.user, note=note, **data)
        return Response(QualificationSerializer(qualification).data)

    @extend_schema(
        request=OutcomeInput, responses={200: QualificationSerializer, **ERRORS}, summary="Record an SQL's outcome: won or lost"
    )
    @action(detail=True, methods=["post"])
    def outcome(self, request, pk=None):
        data = _valid(OutcomeInput, request)
        qualification = services.lead_record_outcome(lead=self.get_object(), by=request.user, **data)
        return Response(QualificationSerializer(qualification).data)

    @extend_schema(
        request=RejectInput,
        responses={200: OpenApiResponse(description="The lead's new stage."), **ERRORS},
        summary="Recycle a SAL to nurture (or disqualify it) with a reason",
    )
    @action(detail=True, methods=["post"])
    def recycle(self, request, pk=None):
        data = _valid(RejectInput, request)
        lead = services.lead_recycle(lead=self.get_object(), by=request.user, reason=data.get("reason"), note=data["note"])
        return Response({"id": lead.pk, "stage": lead.stage, "nurture_until": lead.nurture_until})
