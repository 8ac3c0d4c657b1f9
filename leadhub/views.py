from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse

from handoff import selectors as handoff_selectors
from qualification import selectors as qualification_selectors

from . import selectors
from .filters import LeadFilter
from .models import Lead

LEADS_PER_PAGE = 50


def home(request):
    """Send people to the page they work in: SDRs to the queue, everyone else to leads."""
    if request.user.groups.filter(name="SDR").exists():
        try:
            return redirect(reverse("handoff:queue"))
        except NoReverseMatch:
            pass
    return redirect("leads:list")


def non_empty(query):
    """The query without blank values: a filter form submits "" for "any"."""
    cleaned = query.copy()
    for key in list(cleaned):
        values = [v for v in cleaned.getlist(key) if v.strip()]
        if values:
            cleaned.setlist(key, values)
        else:
            del cleaned[key]
    return cleaned


@permission_required("leadhub.view_lead", raise_exception=True)
def lead_list(request):
    lead_filter = LeadFilter(non_empty(request.GET), queryset=selectors.lead_list(), request=request)
    page = None
    if lead_filter.is_valid():
        paginator = Paginator(lead_filter.qs, LEADS_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
    query = non_empty(request.GET)
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("ordering", None)
    context = {
        "filter": lead_filter,
        "page": page,
        "query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "current_sort": request.GET.get("ordering", ""),
    }
    return render(request, "leadhub/lead_list.html", context)


@permission_required("leadhub.view_lead", raise_exception=True)
def lead_detail(request, pk):
    try:
        lead = selectors.lead_detail(pk)
    except Lead.DoesNotExist:
        lead = get_object_or_404(Lead, pk=pk)
    context = {
        "lead": lead,
        "timeline": selectors.lead_timeline(lead),
        "history": lead.stage_changes.all(),
        **qualification_selectors.lead_score_context(lead),
        **handoff_selectors.lead_handoff_context(lead, request.user),
    }
    return render(request, "leadhub/lead_detail.html", context)
