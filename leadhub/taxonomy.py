"""Reading the lists marketers edit (channels, industries, activity kinds).

`resolve` turns what another system sent ("Live chat", "LIVE_CHAT", "interaction") into an
entry's key: the key itself, the label, or one of the entry's source values, ignoring case and
surrounding spaces. Lists are small (tens of rows), so each call reads its list in one query;
bulk callers use `lookup` once and resolve many values from it.
"""

from .models import ActivityKind, Channel, Industry

LISTS = {"channel": Channel, "industry": Industry, "activity_kind": ActivityKind}


def _norm(value):
    return " ".join(str(value).split()).casefold()


def lookup(model):
    """{normalised key, label or source value: key} for every entry of `model`."""
    table = {}
    for key, label, values in model.objects.values_list("key", "label", "source_values"):
        for raw in [*(values or []), label]:
            table.setdefault(_norm(raw), key)
    # Keys win over labels and source values of other entries.
    for key in model.objects.values_list("key", flat=True):
        table[_norm(key)] = key
    return table


def resolve(model, raw, *, table=None):
    """The key of the entry `raw` names, or None."""
    if raw is None or not str(raw).strip():
        return None
    return (table if table is not None else lookup(model)).get(_norm(raw))


def keys(model, *, active_only=False):
    rows = model.objects.all()
    if active_only:
        rows = rows.filter(active=True)
    return list(rows.values_list("key", flat=True))


def choices(model, *, active_only=True):
    """(key, label) pairs for forms and filters, in the list's order."""
    rows = model.objects.all()
    if active_only:
        rows = rows.filter(active=True)
    return list(rows.values_list("key", "label"))
