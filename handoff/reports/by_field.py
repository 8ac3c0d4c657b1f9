"""Acceptance and rejection reasons by a custom choice field (leadhub LeadField of type choice):
which values of "Lead origin" or "Employees band" sales accepts, and why it rejects the others.

Read over the handoffs of the scope (raw: the rollups have no custom fields), grouped by the
lead's current value of the field (Lead.attributes), two GROUP BY queries. Every cell links to
the lead list with the same handoff filters plus `attr_<key>=<value>`.
"""

from django.db.models import Count, Q
from django.db.models.fields.json import KeyTextTransform

from leadhub.models import LeadField, LeadFieldType

from ..choices import HandoffStatus
from ..models import RejectionReason
from .scope import leads_url, rate, scoped

NONE_LABEL = "(no value)"


def choice_fields():
    """The custom fields a breakdown can use: choice fields, in their order."""
    return list(LeadField.objects.filter(type=LeadFieldType.CHOICE))


def field_by_key(key):
    return LeadField.objects.filter(type=LeadFieldType.CHOICE, key=key).first() if key else None


def breakdown(scope, field):
    """{"field", "reasons": [labels], "rows": [...]}: per value of `field` (its options in order,
    then leads without a value), MQLs, decided, accepted, rejected, the acceptance rate of the
    decided, and per rejection reason the count and its share of the row's rejections."""
    value = KeyTextTransform(field.key, "lead__attributes")
    decided = [HandoffStatus.ACCEPTED, HandoffStatus.REJECTED]
    totals = {
        row["value"]: row
        for row in scoped(scope)
        .annotate(value=value)
        .order_by()
        .values("value")
        .annotate(
            mql=Count("id"),
            decided=Count("id", filter=Q(status__in=decided)),
            accepted=Count("id", filter=Q(status=HandoffStatus.ACCEPTED)),
            rejected=Count("id", filter=Q(status=HandoffStatus.REJECTED)),
        )
    }
    cells = {}
    for row in (
        scoped(scope, reached="rejected")
        .annotate(value=value)
        .order_by()
        .values("value", "rejection_reason_id")
        .annotate(n=Count("id"))
    ):
        cells.setdefault(row["value"], {})[row["rejection_reason_id"]] = row["n"]
    reasons = list(RejectionReason.objects.filter(pk__in={r for c in cells.values() for r in c}).order_by("order", "label"))
    ordered = [o for o in field.options if o in totals] + sorted((v for v in totals if v not in field.options and v), key=str)
    if None in totals:
        ordered.append(None)
    rows = []
    for option in ordered:
        row = totals[option]
        extra = {f"attr_{field.key}": option} if option is not None else {}
        row_cells = cells.get(option, {})
        rows.append(
            {
                "label": option if option is not None else NONE_LABEL,
                "mql": row["mql"],
                "decided": row["decided"],
                "accepted": row["accepted"],
                "rejected": row["rejected"],
                "rate": rate(row["accepted"], row["decided"]),
                # Leads without a value cannot be filtered for; their row links to all of them.
                "url": leads_url(scope, **extra),
                "accepted_url": leads_url(scope, reached="sal", **extra),
                "rejected_url": leads_url(scope, reached="rejected", **extra),
                "cells": [
                    {
                        "reason": reason.label,
                        "n": row_cells.get(reason.pk, 0),
                        "share": rate(row_cells.get(reason.pk, 0), row["rejected"]),
                        "url": leads_url(scope, reached="rejected", rejection_reason=reason.pk, **extra),
                    }
                    for reason in reasons
                ],
            }
        )
    return {"field": field, "reasons": [r.label for r in reasons], "rows": rows}
