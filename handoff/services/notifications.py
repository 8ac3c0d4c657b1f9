"""In-app notices (SLA escalations): dismissing one."""

from datetime import datetime

from django.contrib.auth.models import User
from django.utils import timezone

from ..models import Notification


def notification_dismiss(*, notification_id: int, by: User, at: datetime | None = None) -> int:
    """Mark one of the user's notices read; someone else's or an unknown one is a no-op (0)."""
    return Notification.objects.filter(pk=notification_id, recipient_id=by.pk, read_at__isnull=True).update(
        read_at=at or timezone.now()
    )
