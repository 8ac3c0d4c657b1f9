"""Who may do what in the sales-acceptance queue (permissions, and the sentences a refusal says)."""

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User

from leadhub.errors import NotAllowed

if TYPE_CHECKING:
    from leadhub.models import Lead

    from .models import Handoff

# Who is asking: a user, the anonymous visitor of a page, or None for the system.
Actor = User | AnonymousUser | None

ACT_PERMISSION = "handoff.act_on_handoff"
MANAGE_PERMISSION = "handoff.reassign_handoff"


def display_name(user: User | None) -> str:
    if user is None:
        return "the system"
    return user.get_full_name() or user.username


def is_manager(user: Actor) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(MANAGE_PERMISSION))


def can_act(user: Actor) -> bool:
    return bool(user and user.is_authenticated and (user.has_perm(ACT_PERMISSION) or is_manager(user)))


def check_can_decide(handoff: "Handoff", by: Actor) -> None:
    """SDRs decide on their own handoffs and on pool handoffs; managers on any."""
    if by is None or not can_act(by):
        raise NotAllowed("Your role can view the queue but not act on it.")
    if is_manager(by) or handoff.owner_id in (None, by.pk):
        return
    owner = get_user_model().objects.filter(pk=handoff.owner_id).first()
    raise NotAllowed(f"This lead is assigned to {display_name(owner)}; only they or a sales manager can act on it.")


def check_can_work_lead(lead: "Lead", by: Actor) -> None:
    if by is None or not can_act(by):
        raise NotAllowed("Your role can view leads but not work them.")
    if is_manager(by) or lead.owner_id == by.pk:
        return
    owner = get_user_model().objects.filter(pk=lead.owner_id).first() if lead.owner_id is not None else None
    raise NotAllowed(f"This lead belongs to {display_name(owner)}; only they or a sales manager can work it.")
