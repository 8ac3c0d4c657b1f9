"""One FilterSet for the HTML queue and GET /api/handoffs/."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import F, Q
from django.http import QueryDict
from django.utils import timezone

from leadhub import taxonomy
from leadhub.choices import Grade
from leadhub.filters import ChannelsFilter, PersonFilter, StrictBooleanFilter, score_filter

from .choices import Assigned, HandoffStatus, QueueSort
from .models import Handoff

SORTS = {
    QueueSort.DUE: (F("due_at").asc(nulls_last=True), "created_at", "id"),
    # The score the lead had when it was handed over: a handoff column, so PostgreSQL does not
    # walk the million-row lead score index looking for open handoffs (24x the floor at 1M leads).
    QueueSort.SCORE: (F("score_at_handoff").desc(), F("due_at").asc(nulls_last=True), "id"),
    QueueSort.AGE: ("created_at", "id"),
    QueueSort.NEWEST: ("-created_at", "-id"),
}


def _may_hold_handoffs():
    return get_user_model().objects.filter(
        Q(groups__permissions__codename__in=["act_on_handoff", "reassign_handoff"])
        | Q(user_permissions__codename__in=["act_on_handoff", "reassign_handoff"]),
        is_active=True,
    )


def queue_people(request=None):
    """Everyone whose handoffs the queue may be filtered by: active users allowed to work the
    queue (by permission), SDRs and sales managers (who own the pool handoffs they decided)."""
    return get_user_model().objects.filter(pk__in=_may_hold_handoffs().values("pk")).order_by("first_name", "username")


def queue_workers(request=None):
    """Reassignment targets and the dashboards' SDRs: active users allowed to work the queue
    who have an SDR profile. A sales manager without one is neither, as routing
    (routing.sdrs_in_turn) never gives them work either."""
    ids = _may_hold_handoffs().filter(sdr_profile__isnull=False).values("pk")
    return get_user_model().objects.filter(pk__in=ids).order_by("first_name", "username")


def default_assigned(user):
    """SDRs start on their own work plus the pool; everyone else sees the whole queue."""
    if (
        user
        and user.is_authenticated
        and user.has_perm("handoff.act_on_handoff")
        and not user.has_perm("handoff.reassign_handoff")
    ):
        return Assigned.MINE_AND_POOL
    return Assigned.ALL


def _as_querydict(data):
    if isinstance(data, QueryDict):
        return data.copy()
    query = QueryDict(mutable=True)
    for key, value in (data or {}).items():
        query.setlist(key, value if isinstance(value, (list, tuple)) else [value])
    return query


class _SharedFields(dict):
    """A form's base_fields that each form takes as they are (Form.__init__ deep-copies them)."""

    def __deepcopy__(self, memo):
        return dict(self)


class HandoffFilter(django_filters.FilterSet):
    assigned = django_filters.ChoiceFilter(choices=Assigned.choices, method="filter_assigned", label="Assigned", empty_label=None)
    owner = PersonFilter(queryset=queue_people, label="SDR", empty_label="Anyone")
    # distinct=False: these filters never multiply rows, and DISTINCT would stop PostgreSQL
    # from reading the queue in index order.
    status = django_filters.MultipleChoiceFilter(choices=HandoffStatus.choices, distinct=False)
    channel = ChannelsFilter(choices=taxonomy.Menu("channel"), distinct=False)
    campaign = django_filters.CharFilter(lookup_expr="iexact")
    grade = django_filters.MultipleChoiceFilter(field_name="lead__grade", choices=Grade.choices, distinct=False)
    score_min = score_filter(field_name="lead__total_score", lookup_expr="gte", label="Score from")
    score_max = score_filter(field_name="lead__total_score", lookup_expr="lte", label="Score to")
    overdue = StrictBooleanFilter(method="filter_overdue", label="Overdue only")
    sort = django_filters.ChoiceFilter(choices=QueueSort.choices, method="filter_sort", label="Sort", empty_label=None)

    class Meta:
        model = Handoff
        fields = ["assigned", "owner", "status", "channel", "campaign", "grade", "score_min", "score_max", "overdue", "sort"]

    def __init__(self, data=None, *args, request=None, **kwargs):
        super().__init__(self.with_defaults(data, request), *args, request=request, **kwargs)

    @staticmethod
    def with_defaults(data, request):
        # Defaults live here so the page and the API agree: open handoffs, due first,
        # and the assignment scope that fits the user's role.
        data = _as_querydict(data)
        user = getattr(request, "user", None)
        if not data.get("assigned"):
            data["assigned"] = default_assigned(user)
        if not data.get("sort"):
            data["sort"] = QueueSort.DUE
        if not data.get("status"):
            data["status"] = HandoffStatus.OPEN
        return data

    @classmethod
    def bound_form(cls, data, request):
        """The bound filter form alone: validation and the values to show, without the
        FilterSet's querysets (the queue page reads with plain SQL, selectors.QueueQuery)."""
        if cls.__dict__.get("_form_class") is None:
            cls(request=request).get_form_class()
        return cls._form_class(cls.with_defaults(data, request))

    _form_class = None

    def get_form_class(self):
        # django-filter builds a new form class (every field, the owner queryset) per request;
        # the fields never change, so one class serves every request, and its forms share the
        # fields instead of deep-copying them: validating reads them only (the owner queryset
        # is only ever cloned by .get(), never evaluated in place).
        cls = type(self)
        if cls.__dict__.get("_form_class") is None:
            form_class = super().get_form_class()
            form_class.base_fields = _SharedFields(form_class.base_fields)
            cls._form_class = form_class
        return cls._form_class

    def filter_assigned(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        user_id = user.pk if user and user.is_authenticated else None
        if value == Assigned.MINE:
            return queryset.filter(owner_id=user_id)
        if value == Assigned.POOL:
            return queryset.filter(owner__isnull=True)
        if value == Assigned.MINE_AND_POOL:
            return queryset.filter(Q(owner_id=user_id) | Q(owner__isnull=True))
        return queryset

    def filter_overdue(self, queryset, name, value):
        now = timezone.now()
        if value:
            return queryset.filter(due_at__lt=now)
        return queryset.filter(Q(due_at__gte=now) | Q(due_at__isnull=True))

    def filter_sort(self, queryset, name, value):
        return queryset.order_by(*SORTS[QueueSort(value)])
