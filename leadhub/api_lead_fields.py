"""/api/lead-fields/: the custom lead fields (Marketing and admins define them; others 403)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from . import lead_fields
from .api_input import StrictInput
from .models import LeadField
from .permissions import ModelPermissions


class LeadFieldSerializer(StrictInput, serializers.ModelSerializer):
    options = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, help_text="The allowed values of a choice field."
    )

    class Meta:
        model = LeadField
        fields = ["id", "key", "label", "type", "options", "help_text", "show_in_panel", "show_in_list", "position"]
        read_only_fields = ["id"]

    def validate_key(self, key):
        if self.instance is not None and key != self.instance.key:
            raise serializers.ValidationError(
                f"The key cannot change (it is “{self.instance.key}”): change the label instead; the data stays."
            )
        return key

    def save(self, **kwargs):
        field = self.instance or LeadField()
        for name, value in {**self.validated_data, **kwargs}.items():
            setattr(field, name, value)
        # The rules every writer of definitions follows (types, options, data kept).
        self.instance = lead_fields.lead_field_save(field)
        return self.instance


@extend_schema_view(
    list=extend_schema(summary="Custom lead fields"),
    create=extend_schema(summary="Define a custom lead field"),
    update=extend_schema(summary="Change a custom lead field (label, help, display; type only while no lead holds a value)"),
    partial_update=extend_schema(summary="Change part of a custom lead field"),
    destroy=extend_schema(
        summary="Delete a custom lead field and its values",
        responses={204: None, 409: OpenApiResponse(description="A draft or published scoring model uses the field.")},
    ),
)
class LeadFieldViewSet(viewsets.ModelViewSet):
    """Custom fields of leads: values live in each lead's `attributes` under the field's key."""

    queryset = LeadField.objects.all()
    serializer_class = LeadFieldSerializer
    permission_classes = [ModelPermissions]
    pagination_class = None

    def perform_destroy(self, instance):
        lead_fields.lead_field_delete(instance)

    def destroy(self, request, *args, **kwargs):
        self.perform_destroy(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
