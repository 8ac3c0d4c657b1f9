"""The feedback page's model quality section (/feedback/quality/): the quality report of a
chosen model version (qualification.quality), loaded into /feedback/ by htmx, or a page of its
own without it."""

from django.contrib.auth.decorators import permission_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from qualification import quality
from qualification.quality_forms import QualityForm

from .. import charts

FEEDBACK = "handoff.view_feedback"
ROC_GRID = [i / 20 for i in range(21)]  # false positive rates 0, 5 %, … 100 %


def roc_on_grid(points):
    """True positive rates (%) at ROC_GRID's false positive rates: the best the model reaches
    at or below each (the ROC curve is a staircase)."""
    out = []
    for x in ROC_GRID:
        reached = [t for f, t in points if f <= x + 1e-9]
        out.append(round(100 * max(reached), 1) if reached else 0.0)
    return out


def quality_context(form):
    context = {"qform": form}
    if not form.is_valid():
        return context
    model = form.chosen_model()
    if model is None:
        context["no_model"] = True
        return context
    try:
        result = quality.report(model, form.period())
    except ValueError as exc:
        context["quality_error"] = str(exc)
        return context
    context["quality"] = result
    context["roc_chart"] = charts.line_chart(
        f"ROC curve of v{model.version}: share of {result['positive_word']} leads found against share of the others",
        [f"{round(100 * x)}%" for x in ROC_GRID],
        [(f"v{model.version}", roc_on_grid(result["roc"])), ("Random", [round(100 * x, 1) for x in ROC_GRID])],
        unit="%",
    )
    context["decile_chart"] = charts.bar_chart(
        f"Conversion ({result['positive_word']}) by score decile, top decile first",
        [(f"D{d['label']}", d["rate"], f"{d['positives']:,} of {d['n']:,}") for d in result["deciles"]],
        unit="%",
        color="#2563eb",
    )
    return context


@require_GET
@permission_required(FEEDBACK, raise_exception=True)
def feedback_quality(request):
    context = quality_context(QualityForm(request.GET, prefix="q"))  # "q-": the page's report form has the same names
    template = "handoff/_quality_section.html" if request.htmx else "handoff/quality.html"
    return render(request, template, context)
