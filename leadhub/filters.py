"""One FilterSet per list: the API and the HTML lead list both use LeadFilter."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q

from .choices import Channel, Stage
from .models import Lead


def _active_users(request):
    return get_user_model().objects.filter(is_active=True).order_by("username")


class LeadFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)
    source = django_filters.MultipleChoiceFilter(choices=Channel.choices, label="Channel")
    campaign = django_filters.CharFilter(lookup_expr="iexact")
    owner = django_filters.ModelChoiceFilter(queryset=_active_users, label="Owner", empty_label="Any")
    grade = django_filters.CharFilter(lookup_expr="exact")
    score_min = django_filters.NumberFilter(field_name="total_score", lookup_expr="gte", label="Score from")
    score_max = django_filters.NumberFilter(field_name="total_score", lookup_expr="lte", label="Score to")
    created_after = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte", label="Created from")
    created_before = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte", label="Created to")
    ordering = django_filters.OrderingFilter(
        fields=(
            ("created_at", "created"),
            ("total_score", "score"),
            ("last_name", "name"),
            ("last_activity_at", "last_activity"),
            ("stage", "stage"),
        ),
        label="Sort",
    )

    class Meta:
        model = Lead
        fields = ["q", "stage", "source", "campaign", "owner", "grade", "score_min", "score_max"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q(email__icontains=value) | Q(company__name__icontains=value)
        for term in value.split():
            condition |= Q(first_name__icontains=term) | Q(last_name__icontains=term)
        return queryset.filter(condition)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        # A stable order whatever the sort: ties broken by id.
        return queryset.order_by(*queryset.query.order_by, "-id") if queryset.query.order_by else queryset
