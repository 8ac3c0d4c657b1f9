"""Demo history for the queue: 90 days of handoffs, decisions, SQLs and outcomes, plus a live queue.

Called by `seed_demo` after the lead records (and after scoring, whose MQL promotions open
handoffs through the transition hook). Every decision goes through the services with a past
`at`, so StageChange rows, handoff events, owners and cooldowns agree with each other; only
the re-dating of handoffs that scoring opened "now" is done in bulk.
"""

import math
import random
from datetime import timedelta
from statistics import NormalDist

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from leadhub.choices import Stage
from leadhub.lifecycle import transition
from leadhub.models import Lead, StageChange
from leadhub.outcomes import backfill_queue_outcomes

from . import rollup, services
from .choices import EventKind, HandoffStatus
from .models import Handoff, HandoffEvent, RejectionReason, SDRProfile, SLAPolicy
from .sla_clock import business_before, calendar_for

SDRS = ["sdr1", "sdr2", "sdr3"]
# Median and spread (log-normal) of each SDR's response time in business hours against a
# 4-hour SLA (scaled to faster or slower policies): sdr3 is the slow one. About 13% breach.
RESPONSE = {"sdr1": (1.0, 0.65), "sdr2": (1.3, 0.65), "sdr3": (3.3, 0.55)}
GOLDEN_FRACTION = (math.sqrt(5) - 1) / 2
# Faster and slower per-channel policies next to the 4-hour default.
DEMO_POLICIES = [("Demo and contact requests", "inbound_form", 1), ("Content leads", "interaction", 8)]
# Minutes before now to try as assignment moments for each state of the live queue.
OPEN_RANGES = {"pool": (10, 300), "on_time": (5, 600), "due_soon": (20, 6000), "overdue": (240, 7000)}
MQL_SHARE = 0.10
MAX_PROMOTIONS = 2000  # a big --leads set still seeds in seconds; its history is then this size
OPEN_SHARE = 0.12
ACCEPT_ODDS = {"paid": 0.3, "inbound_form": 0.76, "referral": 0.85, "event": 0.72, "interaction": 0.66, "import": 0.5}
# Paid rejections tell the demo's story (mostly students and no budget) whatever the moment
# the demo is seeded: their reasons are dealt in this order (about the shares of Student 30%,
# No budget 30%, one each of the rest), so after any number of them No budget leads the others.
PAID_REASONS = [
    "Student",
    "No budget",
    "Bad contact data",
    "No budget",
    "Student",
    "No need",
    "No budget",
    "Student",
    "Not the decision maker",
    "Bad timing",
]
REASONS_OTHER = {
    "No budget": 16,
    "Not the decision maker": 24,
    "Bad contact data": 9,
    "No need": 18,
    "Bad timing": 18,
    "Student": 3,
    "Competitor": 3,
    "Existing customer": 4,
    "Duplicate": 5,
}
LOST_REASONS = ["Chose a competitor", "No decision", "Budget cut", "Price", "Timing: next fiscal year"]
STUDENT_TITLES = ("Student", "Graduate Student", "Intern")
# The rule that does not help (feedback page): downloads add points but not buyers, so the
# odds below use the score without them.
UNHELPFUL_RULE = "Content download"
UNHELPFUL_WEIGHT = 2


def _buying_score(handoff):
    """The score that predicts buying in this demo: the score at handoff minus the unhelpful rule."""
    noise = sum(handoff.rules.filter(label=UNHELPFUL_RULE).values_list("points", flat=True))
    return float(handoff.score_at_handoff) - UNHELPFUL_WEIGHT * float(noise)


def _odds(base, score, slope):
    """Conversion rising with score: base at 80 points, `slope` per point, within 5–95%."""
    return min(0.95, max(0.05, base + (score - 80) * slope))


def _pick(rng, weights):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _placeholder_scores(leads, rng):
    """Scores for leads the demo promotes when no scoring model has run (this branch alone):
    engagement from activity count, fit from company size and title."""
    for lead in leads:
        fit = 20 + min(35, int(math.log10(max(lead.company.employee_count or 10, 10)) * 9)) + rng.randint(0, 15)
        if any(word in lead.title for word in ("VP", "Head", "Director", "Chief", "CFO", "CTO")):
            fit += 10
        engagement = min(60, lead.n_activities * 4 + rng.randint(0, 10))
        lead.fit_score, lead.engagement_score, lead.total_score = fit, engagement, fit + engagement
        lead.grade = "A" if fit >= 60 else "B" if fit >= 48 else "C" if fit >= 36 else "D"
        lead.scored_at = timezone.now()
    Lead.objects.bulk_update(leads, ["fit_score", "engagement_score", "total_score", "grade", "scored_at"], batch_size=500)


def _promote(rng, now, stdout):
    """No MQLs yet (no scoring on this branch): promote the most engaged business leads."""
    total = Lead.objects.count()
    want = min(MAX_PROMOTIONS, max(10, int(total * MQL_SHARE)))
    candidates = list(
        Lead.objects.filter(stage=Stage.NEW, company__isnull=False)
        .exclude(first_name="")
        .exclude(title__in=("", *STUDENT_TITLES))
        .select_related("company")
        .annotate(n_activities=Count("activities"))
        .order_by("-n_activities", "id")[:want]
    )
    _placeholder_scores(candidates, rng)
    stdout.write(f"No MQLs yet: promoting the {len(candidates)} most engaged business leads.")
    return candidates


def _state_of(due, now):
    left = due - now
    return "overdue" if left < timedelta(0) else "due_soon" if left <= timedelta(minutes=55) else "on_time"


def _open_time(rng, lead, now, state):
    """An MQL moment whose business-hours deadline puts the handoff in `state` now. Deadlines
    fall in business hours only, so at night or at the weekend no moment makes one "due soon":
    the last try is then used and _seed_history moves that deadline (the live queue is staged)."""
    policy = services.sla_policy_for(lead.source)
    low, high = OPEN_RANGES[state]
    at = now
    for _ in range(200):
        at = now - timedelta(minutes=rng.uniform(low, high))
        if state == "pool" or _state_of(services.due_at_for(policy, at + timedelta(seconds=30)), now) == state:
            break
    return at


def _mql_time(rng, lead, now, open_state):
    """When the lead became MQL: recent for the live queue, else anywhere in its life."""
    earliest = lead.created_at + timedelta(hours=1)
    if open_state is not None:
        at = _open_time(rng, lead, now, open_state)
    else:
        # Decided history ends days before now: a decision cut short at "now" (over a weekend,
        # say) would shrink the slow SDR's response times and blur the dashboard's story.
        latest = now - timedelta(days=4)
        at = earliest + (latest - earliest) * rng.random() if latest > earliest else None
    return max(at, earliest) if at else None


def seed(*, users, seed=7, stdout=None, progress=False, now=None):
    """The history ends and the live queue stands at `now` (seed_demo --as-of; default: the clock)."""
    rng = random.Random(seed + 5)
    now = now or timezone.now()
    stdout = stdout or type("Null", (), {"write": lambda self, text: None})()
    sdrs = [users[name] for name in SDRS if name in users]
    with transaction.atomic():
        for name, channel, hours in DEMO_POLICIES:
            SLAPolicy.objects.get_or_create(channel=channel, active=True, defaults={"name": name, "response_hours": hours})
        for user in sdrs:
            SDRProfile.objects.update_or_create(
                user=user, defaults={"available": True, "capacity": 40, "out_of_office_until": None}
            )
        counts = _seed_history(rng, now, sdrs, stdout)
        # The history is back-dated with plain UPDATEs, past the services: recount the rollups.
        rollup.rebuild()
        # Every won or lost lead has its Outcome (the labels /feedback/ and learning read); the
        # services wrote most, one INSERT … SELECT writes any left (set-based).
        backfill_queue_outcomes(at=now)
    stdout.write(
        f"Handoffs: {counts['decided']:,} decided ({counts['accepted']:,} accepted, {counts['rejected']:,} rejected), "
        f"{counts['sql']:,} SQLs, {counts['won']:,} won; {counts['open']:,} open in the queue ({counts['pool']} in the pool)."
    )
    return counts


def _seed_history(rng, now, sdrs, stdout):
    reasons = {r.label: r for r in RejectionReason.objects.filter(active=True)}
    open_mqls = Handoff.objects.filter(status=HandoffStatus.OPEN, lead__stage=Stage.MQL).order_by("lead__created_at", "id")
    ids = list(open_mqls.values_list("id", flat=True))
    if len(ids) > MAX_PROMOTIONS:
        # A big data set (a benchmark's million leads) gets a history of the usual size, from MQLs
        # spread over its whole timeline; the others stay open where scoring put them. Going
        # through the services one handoff at a time, 200k handoffs would take hours.
        step = len(ids) / MAX_PROMOTIONS
        stdout.write(f"Handoff history for {MAX_PROMOTIONS:,} of {len(ids):,} MQLs; the others stay open.")
        ids = [ids[int(i * step)] for i in range(MAX_PROMOTIONS)]
    existing = list(open_mqls.filter(id__in=ids).select_related("lead"))
    promote = [] if existing else _promote(rng, now, stdout)
    subjects = [h.lead for h in existing] or promote
    subjects.sort(key=lambda lead: (lead.created_at, lead.pk))
    # The newest MQLs make the live queue, in every SLA state; the rest are history.
    n_open = max(10, int(len(subjects) * OPEN_SHARE)) if subjects else 0
    states = ["pool"] * 3 + ["on_time"] * 8 + ["due_soon"] * 4 + ["overdue"] * 6
    plan = {lead.pk: (states[i % len(states)] if i < n_open else None) for i, lead in enumerate(reversed(subjects))}
    counts = dict.fromkeys(["decided", "accepted", "rejected", "paid_rejected", "sql", "won", "open", "pool"], 0)
    by_lead = {h.lead_id: h for h in existing}
    profiles = SDRProfile.objects.filter(user__in=sdrs)

    timeline = [(_mql_time(rng, lead, now, plan[lead.pk]), lead) for lead in subjects]
    # In MQL order, so round-robin turns go around the team as they would have.
    timeline = sorted(((at, lead) for at, lead in timeline if at is not None), key=lambda item: (item[0], item[1].pk))
    for mql_at, lead in timeline:
        state = plan[lead.pk]
        if lead.pk in by_lead:
            handoff = _redate(by_lead[lead.pk], lead, mql_at)
            # Scoring promoted these before the SDR profiles existed, so they wait in the pool;
            # route them as they would have been routed when they became MQLs.
            if state != "pool" and handoff.owner_id is None:
                handoff = services.handoff_assign(handoff=handoff, at=mql_at + timedelta(seconds=30))
        else:
            # Pool entries are routed while nobody is available, as on a busy morning.
            if state == "pool":
                profiles.update(available=False)
            transition(lead, Stage.NURTURE, at=lead.created_at + (mql_at - lead.created_at) * 0.3, reason="Score above 0")
            transition(lead, Stage.MQL, at=mql_at, reason=f"Score {lead.total_score:g} reached the MQL threshold")
            if state == "pool":
                profiles.update(available=True)
            handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
        if state is not None:
            if state in ("due_soon", "overdue") and handoff.due_at and _state_of(handoff.due_at, now) != state:
                # Stage the deadline, in the policy's business hours like every deadline: outside
                # them nothing can be due within the hour, so "due soon" is then due shortly
                # after the next opening.
                minutes = timedelta(minutes=rng.uniform(10, 50) if state == "due_soon" else rng.uniform(30, 600))
                due = (
                    calendar_for(handoff.sla_policy).add(now, minutes)
                    if state == "due_soon"
                    else business_before(handoff.sla_policy, now, minutes)
                )
                Handoff.objects.filter(pk=handoff.pk).update(due_at=due, first_due_at=due)
                handoff.due_at = due
            counts["open"] += 1
            counts["pool"] += state == "pool"
            counts["overdue"] = counts.get("overdue", 0) + (state == "overdue")
            if state == "overdue" and counts["overdue"] % 3 == 0 and handoff.owner_id:
                _give_to(handoff, sdrs[-1])  # the slow SDR holds most of the overdue work
            continue
        _decide(rng, now, lead, handoff, sdrs, reasons, counts)
    return counts


def _redate(handoff, lead, mql_at):
    """Move a handoff opened 'now' by scoring's promotion (and its history rows) to mql_at."""
    owner_at = mql_at + timedelta(seconds=30)
    policy = services.sla_policy_for(handoff.channel)  # the demo's channel policies came after scoring
    Handoff.objects.filter(pk=handoff.pk).update(
        created_at=mql_at,
        assigned_at=owner_at if handoff.owner_id else None,
        sla_policy=policy,
        due_at=services.due_at_for(policy, owner_at) if handoff.owner_id else None,
        first_due_at=services.due_at_for(policy, owner_at) if handoff.owner_id else None,
    )
    HandoffEvent.objects.filter(handoff=handoff).update(at=mql_at)
    StageChange.objects.filter(lead=lead, to_stage=Stage.MQL, at__gt=mql_at).update(at=mql_at)
    StageChange.objects.filter(lead=lead, to_stage=Stage.NURTURE, at__gt=mql_at).update(at=mql_at - timedelta(hours=2))
    handoff.refresh_from_db()
    return handoff


def _give_to(handoff, user):
    Handoff.objects.filter(pk=handoff.pk).update(owner=user)
    HandoffEvent.objects.filter(handoff=handoff, kind=EventKind.ASSIGNED).update(to_owner=user)


def _decision_time(owner, handoff, nth):
    """assigned_at + the SDR's response in business hours, scaled to the policy's response time.
    The SDR's nth response takes the nth point of an evenly spread sequence of the log-normal's
    quantiles instead of a random draw: with the few dozen decisions each SDR has in the
    default demo, random draws put the slow SDR's median anywhere from 1.3× to 3× the others'
    depending on the moment the demo is seeded."""
    median, sigma = RESPONSE.get(owner.username, (1.5, 0.7))
    policy = handoff.sla_policy
    scale = float(policy.response_hours) / 4 if policy else 1
    quantile = ((nth + 1) * GOLDEN_FRACTION) % 1.0  # never 0 or 1: (nth + 1) * an irrational
    hours = median * scale * math.exp(sigma * NormalDist().inv_cdf(quantile))
    return calendar_for(policy).add(handoff.assigned_at, timedelta(hours=hours))


def _decide(rng, now, lead, handoff, sdrs, reasons, counts):
    owner = next((u for u in sdrs if u.pk == handoff.owner_id), None)
    if owner is None:  # pooled when routed: someone claimed it a little later
        owner = rng.choice(sdrs)
        services.handoff_claim(handoff=handoff, by=owner, at=handoff.created_at + timedelta(minutes=rng.uniform(5, 90)))
        handoff.refresh_from_db()
    key = f"responses_{owner.username}_{handoff.sla_policy_id}"  # spread within each policy too
    nth = counts[key] = counts.get(key, -1) + 1
    decided_at = min(_decision_time(owner, handoff, nth), now - timedelta(minutes=30))
    student = lead.title in STUDENT_TITLES
    buying = _buying_score(handoff)
    if not student and rng.random() < _odds(ACCEPT_ODDS.get(lead.source, 0.66), buying, 0.01):
        services.handoff_accept(handoff=handoff, by=owner, at=decided_at)
        counts["accepted"] += 1
        _work_sal(rng, now, lead, owner, decided_at, reasons, counts, buying)
    else:
        if student:
            label = "Student"
        elif lead.source == "paid":
            label = PAID_REASONS[counts["paid_rejected"] % len(PAID_REASONS)]
            counts["paid_rejected"] += 1
        else:
            label = _pick(rng, REASONS_OTHER)
        note = rng.choice(["", "", "Left a voicemail twice.", "Spoke briefly; not a fit right now.", "Email bounced."])
        services.handoff_reject(handoff=handoff, by=owner, reason=reasons[label], note=note, at=decided_at)
        counts["rejected"] += 1
    counts["decided"] += 1


def _work_sal(rng, now, lead, owner, accepted_at, reasons, counts, buying=80.0):
    """About half the SALs become SQLs (more with a higher score; a quarter of those won), some
    are recycled, the rest are still being worked."""
    roll = rng.random()
    qualify = _odds(0.4, buying, 0.03)
    if roll < qualify:
        _qualify(rng, now, lead, owner, accepted_at, counts)
    elif roll < qualify + 0.12:
        at = accepted_at + timedelta(days=rng.uniform(2, 20))
        if at < now:
            label = rng.choice(["Bad timing", "No budget", "Not the decision maker"])
            services.lead_recycle(lead=lead, by=owner, reason=reasons[label], note="Went quiet after the first call.", at=at)
    else:
        at = accepted_at + timedelta(hours=rng.uniform(2, 48))
        if at < now and rng.random() < 0.6:
            services.qualification_save(
                lead=lead,
                by=owner,
                at=at,
                buying_cycle=True,
                influencer=rng.random() < 0.6,
                opportunity_amount=rng.choice([None, 15_000, 30_000]),
                need_note="Replacing spreadsheets",
            )


def _qualify(rng, now, lead, owner, accepted_at, counts):
    at = accepted_at + timedelta(days=rng.uniform(1, 10))
    if at >= now:
        return
    services.lead_qualify(
        lead=lead,
        by=owner,
        at=at,
        buying_cycle=True,
        influencer=True,
        timeframe_known=True,
        permission_to_follow_up=True,
        opportunity_amount=rng.choice([8_000, 12_000, 18_000, 25_000, 40_000, 60_000, 95_000]),
        budget_note=rng.choice(["Approved", "Pending CFO sign-off", "Part of FY budget"]),
        need_note=rng.choice(["Replacing spreadsheets", "Scaling the SDR team", "Consolidating tools"]),
    )
    counts["sql"] += 1
    outcome_roll = rng.random()
    closed_at = at + min(timedelta(days=rng.uniform(5, 30)), (now - at) * 0.9)
    if outcome_roll < 0.25:
        services.lead_record_outcome(lead=lead, by=owner, outcome="won", at=closed_at)
        counts["won"] += 1
    elif outcome_roll < 0.60:
        services.lead_record_outcome(lead=lead, by=owner, outcome="lost", lost_reason=rng.choice(LOST_REASONS), at=closed_at)
