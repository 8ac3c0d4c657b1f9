"""A rescoring run in plain words, for the people who started it (the admin's run pages).

“Rescoring 412,000 of 1,000,000 leads (41%), about 50 s left · 1,204 leads became MQLs so far”
while it runs; what it did once it finished; where it stopped and why when it failed.
"""

from django.utils import timezone

from .choices import RunKind, RunStatus


def _duration(seconds):
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _plural(n, one, many):
    return f"{n:,} {one if n == 1 else many}"


def _why(run):
    kind = {RunKind.PUBLISH: "publishing", RunKind.NIGHTLY: "the nightly decay", RunKind.MANUAL: "a manual rescoring"}
    return f"v{run.model.version}, {kind.get(run.kind, run.kind)}"


def _moves(run, so_far=False):
    text = f"{_plural(run.promoted, 'lead', 'leads')} became {'an MQL' if run.promoted == 1 else 'MQLs'}"
    if run.nurtured:
        text += f", {_plural(run.nurtured, 'new lead', 'new leads')} moved to nurture"
    return text + (" so far" if so_far else "")


def _failure(error):
    """The stored error as a sentence a marketer can act on."""
    error = (error or "").strip()
    if not error:
        return "it stopped without saying why."
    name, sep, detail = error.partition(": ")
    if sep and name.isidentifier() and name[:1].isupper():  # an exception: “OperationalError: …”
        return f"the worker hit an error ({name}): {detail.rstrip('.')}."
    return error if error.endswith(".") else error + "."


def run_sentence(run, now=None):
    """(headline, detail or "") of a run in its current state."""
    now = now or timezone.now()
    of = f"{run.done:,} of {run.total:,} leads ({run.percent}%)"
    stalled = run.stalled_since
    if stalled:
        return (
            f"Stalled since {timezone.localtime(stalled):%Y-%m-%d %H:%M} at {of}: its worker stopped.",
            "It is resumed automatically within a minute"
            + (f" (resumed {_plural(run.attempts, 'time', 'times')} so far)" if run.attempts else "")
            + "; Resume starts it now, from where it stopped.",
        )
    if run.status == RunStatus.PENDING:
        return f"Waiting to start: rescoring {run.total:,} leads ({_why(run)}).", ""
    if run.status == RunStatus.RUNNING:
        left = ""
        if run.rate and run.total > run.done:
            left = f", about {_duration((run.total - run.done) / run.rate)} left"
        return f"Rescoring {of}{left} · {_moves(run, so_far=True)}.", ""
    if run.status == RunStatus.DONE:
        took = (
            f" in {_duration((run.finished_at - run.started_at).total_seconds())}" if run.started_at and run.finished_at else ""
        )
        return f"Rescored all {run.total:,} leads{took} ({_why(run)}) · {_moves(run)}.", ""
    # Failed.
    if run.started_at is None:
        return f"Did not start ({_why(run)}): {_failure(run.error)}", ""
    return (
        f"Stopped at {of}: {_failure(run.error)}",
        "Resume continues from where it stopped; the scores come out the same as a run that never stopped.",
    )
