"""The SDR queue (/queue/): the page, its rows and side panel, the queue's CSV, and the
actions (accept, reject, claim, reassign) answered with out-of-band parts for htmx."""

import functools
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template import engines
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from leadhub import auth_backends, csv_export, formatting, taxonomy
from leadhub.choices import Grade
from leadhub.context_processors import navigation
from leadhub.errors import DomainError
from leadhub.links import link
from leadhub.models import Lead
from leadhub.views import non_empty

from .. import selectors, services
from ..choices import Assigned, QueueSort
from ..filters import HandoffFilter, default_assigned, queue_workers
from ..models import Handoff

QUEUE_PAGE_SIZE = 25
# The queue page and its rows render with Jinja2 (see TEMPLATES in leadhub/settings.py).
ROWS_ENGINE = "jinja2"
ROW_TEMPLATE = "handoff/_row.html"
VIEW = "handoff.view_handoff"


def _queue_query(request):
    query = non_empty(request.GET)
    query.pop("status", None)  # the queue shows open handoffs only
    return query


@require_GET
def queue(request):
    user = request.user
    assumed = None if user.is_superuser else auth_backends.last_read_permissions(user)
    if assumed is not None and VIEW in assumed:
        # Go ahead with what this process last read of the user's permissions and read them
        # afresh with the page's counts and rows, a round trip fewer. The page is answered from
        # the fresh ones: if they changed, it starts again from them.
        auth_backends.assume_permissions(user, assumed)
        response = _queue(request, assumed)
        if response is not None:
            return response
    if not user.has_perm(VIEW):
        raise PermissionDenied
    return _queue(request)


def _queue(request, assumed=None):
    """The queue page; None when the user's permissions turn out other than `assumed`."""
    query = _queue_query(request)
    form = HandoffFilter.bound_form(query, request)
    now = timezone.now()
    page, rows = None, []
    is_manager = services.is_manager(request.user)  # the header adds the team's overdue count
    if form.is_valid():
        queue_query = selectors.QueueQuery(form.cleaned_data, request.user.pk, now)
        # The page asked for is read with the counts; a page past the end is read again.
        number = request.GET.get("page")
        # A page number past any real queue (page=10^20) reads from the start; the paginator
        # then shows the last page.
        start = (max(int(number), 1) - 1) * QUEUE_PAGE_SIZE if number and number.isdigit() and len(number) <= 9 else 0
        also = [auth_backends.permissions_statement(request.user)] if assumed is not None else []
        summary, read, *permissions = selectors.queue_summary_and_rows(
            request.user, queue_query, start, start + QUEUE_PAGE_SIZE, now, also, team=is_manager
        )
        if assumed is not None and auth_backends.set_permissions(request.user, permissions[0]) != assumed:
            return None
        page = Paginator(queue_query.page_source(summary["matching"], (start, read)), QUEUE_PAGE_SIZE).get_page(number)
        rows = selectors.queue_rows(page.object_list, now)
        filtered = not queue_query.unfiltered or queue_query.assigned != default_assigned(request.user)
    else:
        filtered = True
        if assumed is not None and auth_backends.read_permissions(request.user) != assumed:
            return None
        summary = selectors.queue_summary(request.user, now=now, team=is_manager)
    query.pop("page", None)
    query = query.urlencode()
    context = {
        "page": page,
        "rows": rows,
        "summary": summary,
        "errors": form.errors,
        "query": query,
        "more": summary["more"],
        "show_owner": form.cleaned_data.get("assigned") == Assigned.ALL if form.is_valid() else True,
        "can_act": services.can_act(request.user),
        "is_manager": is_manager,
        "user_id": request.user.pk,
        "filtered": filtered,
        "queue_url": link("handoff:queue"),
    }
    if page is not None and not page.paginator.count and not filtered:
        last = selectors.last_decision(request.user)
        if last:
            context["last_decision"] = {"iso": last.isoformat(), "text": formatting.moment(last)}
    results = _jinja(request, "handoff/_queue_results.html", context)
    if request.htmx and request.htmx.target == "queue-results":
        return HttpResponse(results)
    values = tuple(
        (name, tuple(value) if isinstance(value, list) else value)
        for name, value in (
            (name, field.widget.value_from_datadict(form.data, form.files, name)) for name, field in form.fields.items()
        )
    )
    context.update(
        filter_bar=_filter_bar(values, link("handoff:queue"), tuple(taxonomy.menu("channel"))),
        notices=_notices(request.user) if summary["unread_notices"] else [],
        urls={"queue": link("handoff:queue"), "csv": link("handoff:queue-csv")},
    )
    context.update(
        results=results, user=request.user, messages=messages.get_messages(request), nav_items=navigation(request)["nav_items"]
    )
    return render(request, "handoff/queue.html", context, using=ROWS_ENGINE)


def _notices(user):
    return [
        {
            "text": n.text,
            "dismiss_url": reverse("handoff:notice-dismiss", args=[n.pk]),
            "lead_url": reverse("leads:detail", args=[n.handoff.lead_id]) if n.handoff_id else "",
        }
        for n in selectors.unread_notices(user)
    ]


@functools.lru_cache(maxsize=256)
def _filter_bar(values, queue_url, channels):
    """The filter bar for these values ((name, value) pairs) and channels (the list marketers
    edit, kept a few seconds per process); most loads ask for the same few."""
    context = {
        "form_values": dict(values),
        "urls": {"queue": queue_url},
        "assigned_choices": Assigned.choices,
        "sort_choices": QueueSort.choices,
        "channel_choices": channels,
        "grade_choices": Grade.choices,
    }
    return mark_safe(engines[ROWS_ENGINE].env.get_template("handoff/_filters.html").render(context))


def _jinja(request, template, context):
    """Queue HTML rendered by Jinja2 (see TEMPLATES in leadhub/settings.py), safe to embed. These
    parts need no request or CSRF token, so they skip the Django backend's wrapping."""
    return mark_safe(engines[ROWS_ENGINE].env.get_template(template).render(context))


QUEUE_CSV_HEADER = [
    "handoff id",
    "lead id",
    "name",
    "email",
    "title",
    "company",
    "channel",
    "campaign",
    "score at handoff",
    "grade at handoff",
    "owner",
    "mql at",
    "assigned at",
    "due at",
    "sla state",
]


@require_GET
@permission_required(VIEW, raise_exception=True)
def queue_csv(request):
    """The queue with its current filters as a streamed CSV (constant memory)."""
    handoff_filter = HandoffFilter(_queue_query(request), queryset=selectors.queue_handoffs(), request=request)
    if not handoff_filter.is_valid():
        problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in handoff_filter.errors.items())
        return HttpResponse(f"Some filters are not valid: {problems}", status=400, content_type="text/plain")
    return csv_export.stream_csv(selectors.queue_csv_rows(handoff_filter.qs), QUEUE_CSV_HEADER, "queue.csv")


@require_GET
@permission_required(VIEW, raise_exception=True)
def panel(request, pk):
    get_object_or_404(Handoff, pk=pk)
    context = selectors.handoff_panel(pk, request.user)
    context["show_reject"] = request.GET.get("reject") == "1"
    context["workers"] = queue_workers() if context["is_manager"] else []
    return render(request, "handoff/_panel.html", context)


@require_GET
@permission_required(VIEW, raise_exception=True)
def row(request, pk):
    get_object_or_404(Handoff, pk=pk)
    return render(request, ROW_TEMPLATE, _row_context(request, pk), using=ROWS_ENGINE)


def _row_context(request, pk, **extra):
    return {
        "h": selectors.queue_row(pk),
        "can_act": services.can_act(request.user),
        "is_manager": services.is_manager(request.user),
        "show_owner": True,
        "user_id": request.user.pk,
        **extra,
    }


def _back_to_queue(request):
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("handoff:queue")


def _owner_column(request):
    """Whether the queue page the request came from shows the Owner column ("Everyone's")."""
    query = QueryDict(urlsplit(request.headers.get("HX-Current-URL", "")).query)
    return (query.get("assigned") or default_assigned(request.user)) == Assigned.ALL


def _act(request, pk, action, done):
    """Run one queue action and answer with what it changed on the queue page.

    `action()` calls the service; `done(handoff)` is the confirmation sentence. Domain errors
    (conflict, not allowed, bad input) answer with their HTTP status and their sentence, shown in
    the row and the panel, and the row is re-rendered from the database so the SDR sees what
    really happened."""
    get_object_or_404(Handoff, pk=pk)
    status, error = 200, None
    try:
        handoff = action()
        message = done(handoff)
    except DomainError as exc:
        status, error, message = exc.status_code, exc, exc.message
    if not request.htmx:
        (messages.error if error else messages.success)(request, message)
        return _back_to_queue(request)
    return _queue_update(request, pk, message, error, status)


def _queue_update(request, pk, message, error, status):
    """Out-of-band parts only, each valid HTML wherever it is parsed: the row (in a <template>,
    the one place a lone <tr> parses as a row), the side panel, the header counts, the status
    line and the notices. The request swaps nothing itself (HX-Reswap: none), so a refusal
    (400/403/409) changes the same parts as a success, and queue.js keeps it in the page."""
    row_html = render_to_string(
        ROW_TEMPLATE,
        _row_context(request, pk, notice=message, notice_error=bool(error), oob=True, show_owner=_owner_column(request)),
        using=ROWS_ENGINE,
    )
    panel_context = selectors.handoff_panel(pk, request.user)
    panel_context.update(oob=True, workers=queue_workers() if panel_context["is_manager"] else [])
    if error and error.field_errors:
        # Bad input: keep the panel's form open with its messages.
        panel_context.update(show_reject=True, errors=error.field_errors, note=request.POST.get("note", ""))
    else:
        panel_context.update(panel_notice=message, panel_notice_error=bool(error))
    user = request.user
    summary = selectors.queue_summary(user, team=services.is_manager(user))
    html = "".join(
        [
            f"<template>{row_html}</template>",
            render_to_string("handoff/_panel.html", panel_context, request=request),
            render_to_string(
                "handoff/_summary.html", {"summary": summary, "can_act": services.can_act(user), "oob": True}, using=ROWS_ENGINE
            ),
            _jinja(request, "handoff/_status.html", {"message": message, "error": bool(error)}),
            # The summary counts unread notices: none to read means none to list.
            render_to_string(
                "handoff/_notices.html",
                {"notices": _notices(user) if summary["unread_notices"] else [], "oob": True},
                request=request,
                using=ROWS_ENGINE,
            ),
        ]
    )
    response = HttpResponse(html, status=status)
    response["HX-Reswap"] = "none"
    return response


def _sla_restarted(handoff):
    """What a new owner's clock says: the due time the service set, in the site's time zone."""
    if handoff.due_at is None:
        return "The SLA clock stops until someone claims it."
    due = timezone.localtime(handoff.due_at)
    return f"SLA restarted: due {due:%a %b} {due.day}, {due:%H:%M} {due.tzname()}."


def _lead_name(handoff):
    lead = Lead.objects.only("first_name", "last_name", "email", "phone").get(pk=handoff.lead_id)
    return str(lead)  # name, else email, phone or "Lead 12" (email is optional)


@require_POST
@permission_required(VIEW, raise_exception=True)
def accept(request, pk):
    note = request.POST.get("note", "")
    return _act(
        request,
        pk,
        lambda: services.handoff_accept(handoff=Handoff(pk=pk), by=request.user, note=note),
        lambda h: (
            f"Accepted {_lead_name(h)}: now a SAL owned by {services.display_name(get_user_model().objects.get(pk=h.owner_id))}."
        ),
    )


@require_POST
@permission_required(VIEW, raise_exception=True)
def reject(request, pk):
    note = request.POST.get("note", "")

    def done(h):
        reason = h.rejection_reason
        where = f"back to nurture for {reason.cooldown_days} days" if reason.destination == "nurture" else "disqualified"
        return f"Rejected {_lead_name(h)} ({reason.label}): {where}."

    return _act(
        request,
        pk,
        lambda: services.handoff_reject(handoff=Handoff(pk=pk), by=request.user, reason=request.POST.get("reason"), note=note),
        done,
    )


@require_POST
@permission_required(VIEW, raise_exception=True)
def claim(request, pk):
    return _act(
        request,
        pk,
        lambda: services.handoff_claim(handoff=Handoff(pk=pk), by=request.user),
        lambda h: f"Claimed {_lead_name(h)}: it is yours now. {_sla_restarted(h)}",
    )


@require_POST
@permission_required(VIEW, raise_exception=True)
def reassign(request, pk):
    owner_id = request.POST.get("owner", "")

    def action():
        to_user = None
        if owner_id:
            to_user = queue_workers().filter(pk=owner_id).first() if owner_id.isdigit() else None
            if to_user is None:
                from leadhub.errors import ValidationFailed

                raise ValidationFailed(
                    "Choose someone who works the queue.", field_errors={"owner": ["Choose someone from the list."]}
                )
        return services.handoff_reassign(
            handoff=Handoff(pk=pk), by=request.user, to_user=to_user, note=request.POST.get("note", "")
        )

    def done(h):
        if h.owner_id is None:
            return f"{_lead_name(h)} is back in the pool. {_sla_restarted(h)}"
        owner = services.display_name(get_user_model().objects.get(pk=h.owner_id))
        return f"Reassigned {_lead_name(h)} to {owner}. {_sla_restarted(h)}"

    return _act(request, pk, action, done)


@require_POST
@login_required
def notice_dismiss(request, pk):
    services.notification_dismiss(notification_id=pk, by=request.user)
    if request.htmx:
        return HttpResponse("")
    return redirect("handoff:queue")
