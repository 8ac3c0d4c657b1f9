"""The team: a sales manager changes an SDR's routing facts, with a history row per change."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone

from leadhub.errors import NotAllowed, ValidationFailed

from ..models import SDRProfile, SDRProfileChange

PROFILE_PERMISSION = "handoff.change_sdrprofile"
MAX_CAPACITY = 500
PROFILE_LABELS = SDRProfileChange.FIELD_LABELS


class ProfileChanges(TypedDict, total=False):
    """The routing facts a manager changes, cleaned (clean_profile_changes)."""

    available: bool
    capacity: int
    out_of_office_until: datetime | None


def _profile_value(name: str, value: Any) -> str:
    """How a profile field reads in its history."""
    if name == "available":
        return "available" if value else "unavailable"
    if name == "out_of_office_until":
        return f"{timezone.localtime(value):%a %b %-d %Y %H:%M %Z}" if value else "not set"
    return str(value)


def clean_profile_changes(changes: Mapping[str, Any], at: datetime) -> ProfileChanges:
    unknown = set(changes) - set(PROFILE_LABELS)
    if unknown:
        raise ValidationFailed(f"Unknown SDR profile fields: {', '.join(sorted(unknown))}.")
    cleaned: ProfileChanges = {}
    errors: dict[str, list[str]] = {}
    if "available" in changes:
        cleaned["available"] = bool(changes["available"])
    if "capacity" in changes:
        try:
            capacity = int(str(changes["capacity"]).strip())
        except (TypeError, ValueError):
            capacity = None
        if capacity is None or not 0 <= capacity <= MAX_CAPACITY:
            errors["capacity"] = [f"Capacity is a whole number of open handoffs from 0 to {MAX_CAPACITY}."]
        else:
            cleaned["capacity"] = capacity
    if "out_of_office_until" in changes:
        until = changes["out_of_office_until"] or None
        if until is not None and timezone.is_naive(until):
            until = timezone.make_aware(until)
        if until is not None and until <= at:
            errors["out_of_office_until"] = [
                f"Out of office until {timezone.localtime(until):%a %b %-d %H:%M} is in the past: choose a later time, or clear it."
            ]
        else:
            cleaned["out_of_office_until"] = until
    if errors:
        raise ValidationFailed(" ".join(message for messages in errors.values() for message in messages), field_errors=errors)
    return cleaned


@transaction.atomic
def sdr_profile_update(
    *, profile: SDRProfile, by: User | AnonymousUser | None, at: datetime | None = None, **changes: Any
) -> tuple[SDRProfile, list[SDRProfileChange]]:
    """A sales manager changes an SDR's routing facts: available, out_of_office_until (aware
    datetime or None) and capacity (most open handoffs, 0 to MAX_CAPACITY).

    Refuses (ValidationFailed, by field) a capacity out of range and an out-of-office end in
    the past; NotAllowed without the permission to change SDR profiles. Writes the changed
    fields and one SDRProfileChange row per field (who, from, to, when) in one transaction,
    with the profile row locked. Returns the profile and the list of changes written (empty
    when nothing changed)."""
    at = at or timezone.now()
    if not (by and by.is_authenticated and by.has_perm(PROFILE_PERMISSION)):
        raise NotAllowed("Only a sales manager can change SDR availability and capacity.")
    cleaned = clean_profile_changes(changes, at)
    locked = SDRProfile.objects.select_for_update().select_related("user").get(pk=profile.pk)
    written: list[SDRProfileChange] = []
    for name, value in cleaned.items():
        old = getattr(locked, name)
        if old == value:
            continue
        written.append(
            SDRProfileChange(
                profile=locked,
                field=name,
                old_value=_profile_value(name, old)[:100],
                new_value=_profile_value(name, value)[:100],
                by=by,
                at=at,
            )
        )
        setattr(locked, name, value)
    if written:
        locked.save(update_fields=[change.field for change in written])
        SDRProfileChange.objects.bulk_create(written)
    return locked, written
