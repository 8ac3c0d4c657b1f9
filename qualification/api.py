"""Serializers for scoring data that other apps' APIs embed (the lead API's explanation)."""

from rest_framework import serializers


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
