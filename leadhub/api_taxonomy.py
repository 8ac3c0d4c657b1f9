"""`/api/activity-kinds/`: the activity kinds marketers define, with their declared
properties. Every API role reads them (an integration learns which kinds and property types
its activities must use); Marketing and admins create and change them. Deleting stays in the
admin, where an entry in use is refused with a sentence (leadhub.taxonomy)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from . import taxonomy
from .api_input import StrictInput
from .models import ActivityKind
from .permissions import ModelPermissions
from .validation import json_problem, text_problem


class TextField(serializers.CharField):
    """Text only: a number is refused, not turned into text (as the schema says)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PropertySpecSerializer(StrictInput):
    key = serializers.RegexField(r"^[a-z][a-z0-9_]{0,39}$", help_text="Lowercase letters, digits and underscores.")
    type = serializers.ChoiceField(choices=list(taxonomy.PROPERTY_TYPES))
    options = serializers.ListField(
        child=TextField(max_length=80), required=False, help_text="A choice's options (only for type choice)."
    )


class ActivityKindSerializer(StrictInput, serializers.ModelSerializer):
    source_values = serializers.ListField(
        child=TextField(max_length=80),
        required=False,
        help_text="Raw values other systems send for this kind (“SMS sent”); case and spaces ignored.",
    )
    properties = PropertySpecSerializer(
        many=True,
        required=False,
        help_text="Declared properties: activities must send them with these types; rules may test them.",
    )

    class Meta:
        model = ActivityKind
        fields = ["key", "label", "source_values", "properties", "negative", "active", "position"]

    def validate_properties(self, value):
        if problem := json_problem([dict(spec) for spec in value]):
            raise serializers.ValidationError(problem)
        # The same rules as the admin's text (duplicates, options only for a choice).
        properties = [{k: v for k, v in dict(spec).items() if k != "options" or v} for spec in value]
        for spec in properties:
            if spec.get("type") != "choice":
                spec.pop("options", None)
        errors = taxonomy.check_properties_declaration(properties)
        if errors:
            raise serializers.ValidationError(errors)
        return properties

    def validate_source_values(self, value):
        if problem := json_problem(value):
            raise serializers.ValidationError(problem)
        if any("\n" in v or "\r" in v for v in value):
            raise serializers.ValidationError("One value per item, without line breaks.")
        return taxonomy.parse_source_values("\n".join(value))

    def validate_label(self, value):
        if problem := text_problem(value):
            raise serializers.ValidationError(problem)
        return value

    def validate(self, attrs):
        entry = ActivityKind(pk=self.instance.pk if self.instance else None)
        for name in ("key", "label", "source_values"):
            value = attrs.get(name, getattr(self.instance, name, None) if self.instance else None)
            setattr(entry, name, value if value is not None else ([] if name == "source_values" else ""))
        problems = taxonomy.entry_problems(entry)
        if problems:
            raise serializers.ValidationError(problems)
        return attrs

    def create(self, validated_data):
        return ActivityKind.objects.create(**validated_data)

    def update(self, instance, validated_data):
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save()
        return instance


@extend_schema_view(
    list=extend_schema(summary="The activity kinds, with their declared properties"),
    retrieve=extend_schema(summary="One activity kind by key"),
    create=extend_schema(summary="Define an activity kind (Marketing, admins)"),
    update=extend_schema(summary="Change an activity kind (Marketing, admins); a key in use cannot change"),
    partial_update=extend_schema(summary="Change some of an activity kind's fields (Marketing, admins)"),
)
class ActivityKindViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet
):
    queryset = ActivityKind.objects.order_by("position", "label", "pk")
    serializer_class = ActivityKindSerializer
    permission_classes = [ModelPermissions]
    lookup_field = "key"
    pagination_class = None  # tens of rows
