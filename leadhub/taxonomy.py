"""Reading and writing the lists marketers edit (channels, industries, activity kinds).

`resolve` turns what another system sent ("Live chat", "LIVE_CHAT", "interaction") into an
entry's key: the key itself, the label, or one of the entry's source values, ignoring case and
surrounding spaces. Lists are small (tens of rows), so each call reads its list in one query;
bulk callers use `lookup` (or `activity_kinds`) once and resolve many values from it.

Every writer of a channel, industry or activity kind goes through here:
- `clean_channel` / `clean_industry`: a raw value to a key, with the unknown-value policy
  (settings.LEADHUB_UNKNOWN_LIST_VALUES; docs/decisions/edited-lists.md);
- `activity_kinds()` -> `KindCatalog.check`: an activity's kind and its declared properties;
- `usage`, `delete_entry`, `key_locked`: what uses an entry, and the refusals that follow.
Labels for pages come from `labels` (kept a few seconds per process, leadhub.models.taxonomy).
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.choices import BaseChoiceIterator

from . import hooks
from .errors import ValidationFailed
from .models import Activity, ActivityKind, Channel, Company, Industry, Lead
from .models.taxonomy import LIST_MODELS, entries, forget_entries, kept, label, labels  # noqa: F401  (re-exported)
from .validation import text_problem

LISTS = {"channel": Channel, "industry": Industry, "activity_kind": ActivityKind}
LIST_NAMES = {model: name for name, model in LISTS.items()}

# The entry unknown values fall back to, and the one imports use by default: never deleted.
FALLBACK = "other"
PROTECTED_KEYS = {"channel": {"other", "import"}, "industry": {"other"}, "activity_kind": set()}

PROPERTY_TYPES = ("text", "number", "choice")


def _norm(value):
    return " ".join(str(value).split()).casefold()


def lookup(model):
    """{normalised key, label or source value: key} for every entry of `model`."""
    table = {}
    rows = list(model.objects.values_list("key", "label", "source_values"))
    for key, label_, values in rows:
        for raw in [*(values or []), label_]:
            table.setdefault(_norm(raw), key)
    # Keys win over labels and source values of other entries.
    for key, *_ in rows:
        table[_norm(key)] = key
    return table


def kept_lookup(list_name):
    """lookup() of a list, kept a few seconds per process: for callers that resolve value by
    value with no batch to read it for (an import's rows)."""
    return kept(list_name, "lookup", lookup)


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


def menu(list_name):
    """(key, label) of every entry, for filters: inactive entries too (old records keep them).
    Read from the labels kept per process, so a filter form costs no query."""
    return [(key, text if active else f"{text} (inactive)") for key, text, active in entries(list_name)]


class Menu(BaseChoiceIterator):
    """menu(list_name) for a form field's choices, read each time the form is drawn or checked
    (a form class is built once; the list changes while the process runs). Django keeps a
    BaseChoiceIterator as it is, unevaluated, until a form needs the choices."""

    def __init__(self, list_name, *, first=None):
        self.list_name, self.first = list_name, first

    def __iter__(self):
        if self.first:
            yield self.first
        yield from menu(self.list_name)

    def __len__(self):
        return len(menu(self.list_name)) + bool(self.first)

    def __bool__(self):  # without reading the list
        return True

    def __call__(self):
        # Callable, so the API schema generator (drf-spectacular) does not read the list: the
        # schema documents a text value, whatever the list holds when it is generated.
        return list(self)


def _unknown_message(noun, raw, model):
    shown = str(raw)[:80]
    return f"“{shown}” is not a {noun}; use one of: {', '.join(keys(model))} (or a label or source value of one)."


def clean_channel(raw, *, campaign=None, policy=None):
    """The channel key for a raw value, and the campaign to store with it.

    Unknown values follow the policy (settings.LEADHUB_UNKNOWN_LIST_VALUES): "other" files the
    lead under Other and keeps the raw value as its campaign when it has none; "reject" raises
    ValidationFailed naming the valid channels. Returns (key, campaign); campaign None means
    "leave the campaign as it is".
    """
    if raw is None or not str(raw).strip():
        return FALLBACK, campaign
    key = resolve(Channel, raw)
    if key is not None:
        return key, campaign
    if (policy or settings.LEADHUB_UNKNOWN_LIST_VALUES) == "reject":
        message = _unknown_message("channel", raw, Channel)
        raise ValidationFailed(message, field_errors={"channel": [message]})
    if not campaign:
        campaign = " ".join(str(raw).split())[:120]
    return FALLBACK, campaign


def clean_lead_fields(fields):
    """`fields` (lead fields for a write, "source" the raw channel) with the channel resolved,
    in place; returns them. Writers call this before saving (leadhub.services.upsert_lead)."""
    if "source" in fields:
        fields["source"], campaign = clean_channel(fields["source"], campaign=fields.get("campaign"))
        if campaign is not None:
            fields["campaign"] = campaign
    return fields


def clean_industry(raw, *, policy=None):
    """The industry key for a raw value ("" for none). Unknown values become "other", or raise
    ValidationFailed under the "reject" policy."""
    if raw is None or not str(raw).strip():
        return ""
    key = resolve(Industry, raw)
    if key is not None:
        return key
    if (policy or settings.LEADHUB_UNKNOWN_LIST_VALUES) == "reject":
        message = _unknown_message("industry", raw, Industry)
        raise ValidationFailed(message, field_errors={"company": {"industry": [message]}})
    return FALLBACK


def clean_company_fields(company):
    """A copy of company facts with the industry resolved (leadhub.services.company_for_email)."""
    if not company or "industry" not in company:
        return company
    return {**company, "industry": clean_industry(company["industry"])}


# --- Activity kinds and their properties ---------------------------------------------------


def parse_properties(text):
    """Declared properties from the admin's text: one per line, `key: type`, where type is
    `text`, `number` or `choice(a, b, c)`. Returns (properties, [error sentences])."""
    properties, errors, seen = [], [], set()
    for number, line in enumerate(str(text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        key, colon, kind = line.partition(":")
        key, kind = key.strip(), kind.strip()
        if not colon or not key or not kind:
            errors.append(f"Line {number} (“{line[:60]}”): write it as “key: type”, e.g. “minutes: number”.")
            continue
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key):
            errors.append(f"Line {number}: “{key[:40]}” is not a property key; use lowercase letters, digits and underscores.")
            continue
        if key in seen:
            errors.append(f"Line {number}: “{key}” is declared twice.")
            continue
        seen.add(key)
        choice = re.fullmatch(r"choice\s*\((.*)\)", kind, flags=re.IGNORECASE)
        if choice:
            options = [o.strip() for o in choice.group(1).split(",") if o.strip()]
            if not options:
                errors.append(f"Line {number}: a choice needs its options, e.g. “form: choice(demo, contact)”.")
                continue
            if len({o.casefold() for o in options}) != len(options):
                errors.append(f"Line {number}: an option of “{key}” is listed twice.")
                continue
            properties.append({"key": key, "type": "choice", "options": options})
        elif kind.lower() in ("text", "number"):
            properties.append({"key": key, "type": kind.lower()})
        else:
            errors.append(f"Line {number}: “{kind[:40]}” is not a property type; use text, number or choice(option, option, …).")
    return properties, errors


def properties_text(properties):
    """The admin's text for declared properties (parse_properties reads it back)."""
    lines = []
    for spec in properties or []:
        if spec.get("type") == "choice":
            lines.append(f"{spec['key']}: choice({', '.join(spec.get('options') or [])})")
        else:
            lines.append(f"{spec['key']}: {spec.get('type', 'text')}")
    return "\n".join(lines)


def check_properties_declaration(properties):
    """Error sentences for a `properties` list given as JSON (the API); [] when it is valid."""
    if not isinstance(properties, list):
        return ['Give a list of properties, e.g. [{"key": "minutes", "type": "number"}].']
    errors, seen = [], set()
    for index, spec in enumerate(properties):
        where = f"Property {index + 1}"
        if not isinstance(spec, dict) or set(spec) - {"key", "type", "options"}:
            errors.append(f"{where}: give an object with key, type and (for a choice) options.")
            continue
        key, kind = spec.get("key"), spec.get("type")
        if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key):
            errors.append(f"{where}: the key is lowercase letters, digits and underscores, starting with a letter.")
        elif key in seen:
            errors.append(f"{where}: “{key}” is declared twice.")
        seen.add(key)
        if kind not in PROPERTY_TYPES:
            errors.append(f"{where}: the type is one of text, number, choice.")
        elif kind == "choice":
            options = spec.get("options")
            if not isinstance(options, list) or not options or not all(isinstance(o, str) and o.strip() for o in options):
                errors.append(f"{where}: a choice needs a list of options (text).")
        elif "options" in spec:
            errors.append(f"{where}: only a choice has options.")
    return errors


def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip().replace(",", "") if re.fullmatch(r"\s*-?[\d,]*\.?\d+\s*", value) else ""
        if text:
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
    return None


@dataclass
class KindCatalog:
    """The activity kinds as a batch sees them (`activity_kinds()`): every item is then a
    dictionary lookup (the ingest budget is thousands of activities a second). A copy kept by
    the process may be a few seconds old: a kind it does not know is looked up again in the
    table before it is refused, so a kind created a moment ago is accepted at once."""

    table: dict[str, str]
    declared: dict[str, dict[str, dict[str, Any]]]
    keys: list[str] = field(default_factory=list)
    fresh: bool = True

    def _lookup(self, raw_kind):
        key = self.table.get(raw_kind)  # the usual case: the key itself
        if key is None:
            key = self.table.get(_norm(raw_kind))
        if key is None and not self.fresh:
            current = _read_activity_kinds()
            self.table, self.declared, self.keys, self.fresh = current.table, current.declared, current.keys, True
            key = self.table.get(_norm(raw_kind))
        return key

    def check(self, raw_kind, properties) -> tuple[str | None, Mapping[str, Any], dict[str, list[str]]]:
        """(kind key, properties with declared values normalised, {field: [problem]}).

        Declared properties must match their type: a number is a JSON number (or text holding
        one, stored as a number), text is text (numbers are stored as text), a choice is one
        of its options (any case; stored as declared). Null counts as not sent. Undeclared
        properties are kept as sent; rules cannot test them."""
        key = self._lookup(raw_kind) if isinstance(raw_kind, str) and raw_kind.strip() else None
        if key is None:
            shown = raw_kind if isinstance(raw_kind, str) and len(raw_kind) <= 40 and not text_problem(raw_kind) else "this value"
            return (
                None,
                properties,
                {
                    "kind": [
                        f"“{shown}” is not an activity kind; use one of: {', '.join(self.keys)} "
                        "(or a label or source value of one: GET /api/activity-kinds/)."
                    ]
                },
            )
        specs = self.declared.get(key)
        if not specs or not properties:
            return key, properties, {}
        problems: dict[str, list[str]] = {}
        cleaned = None
        for name, spec in specs.items():
            value = properties.get(name)
            if value is None:
                continue
            kind = spec["type"]
            # The usual cases first: text sent as text, a number as a whole JSON number.
            if (kind == "text" and type(value) is str) or (kind == "number" and type(value) is int):
                continue
            if kind == "number":
                number = _number(value)
                if number is None:
                    problems[f"properties.{name}"] = [f"“{name}” is a number; got {_shown(value)}."]
                    continue
                new = number
            elif kind == "choice":
                options = spec.get("options") or []
                new = next((o for o in options if isinstance(value, str) and o.casefold() == value.strip().casefold()), None)
                if new is None:
                    problems[f"properties.{name}"] = [f"“{name}” is one of {', '.join(options)}; got {_shown(value)}."]
                    continue
            else:
                if isinstance(value, str):
                    new = value
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    new = str(value)
                else:
                    problems[f"properties.{name}"] = [f"“{name}” is text; got {_shown(value)}."]
                    continue
            if new != value or type(new) is not type(value):
                if cleaned is None:
                    cleaned = dict(properties)
                cleaned[name] = new
        return key, (cleaned if cleaned is not None else properties), problems


def _shown(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"“{value[:40]}”"
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    return str(value)[:40]


def activity_kinds():
    """The activity kinds for a batch: the copy the process keeps (LABEL_SECONDS; forgotten
    when this process saves a kind), read again on a kind it does not know."""
    catalog = kept("activity_kind", "catalog", lambda model: _read_activity_kinds())
    return KindCatalog(table=catalog.table, declared=catalog.declared, keys=catalog.keys, fresh=False)


def _read_activity_kinds():
    rows = list(ActivityKind.objects.values_list("key", "label", "source_values", "properties"))
    table = {}
    for key, label_, values, _ in rows:
        for raw in [*(values or []), label_]:
            table.setdefault(_norm(raw), key)
    for key, *_ in rows:
        table[_norm(key)] = key
    declared = {
        key: {spec["key"]: spec for spec in props if isinstance(spec, dict) and "key" in spec}
        for key, _, _, props in rows
        if props
    }
    return KindCatalog(table=table, declared=declared, keys=[row[0] for row in rows])


# --- What uses an entry ------------------------------------------------------------------


def usage(entry, *, counts=True):
    """[(how many, what)] of the records and settings that use `entry`'s key, e.g.
    [(1204, "leads"), (2, "engagement rules")]. With counts=False, stops at the first use
    (the numbers are then 1)."""
    list_name = LIST_NAMES[type(entry)]
    key = entry.key
    found: list[tuple[int, str]] = []

    def add(queryset, noun):
        n = queryset.count() if counts else int(queryset.exists())
        if n:
            found.append((n, noun))
        return n

    if list_name == "channel":
        from .models import LeadImport

        if add(Lead.objects.filter(source=key), "leads") and not counts:
            return found
        add(LeadImport.objects.filter(channel=key), "imports")
    elif list_name == "industry":
        add(Company.objects.filter(industry=key), "companies")
    else:
        add(Activity.objects.filter(kind=key), "activities")
    if found and not counts:
        return found
    # The apps above (handoffs and SLA policies, scoring rules) answer through the hook.
    for answer in hooks.on_list_entry_uses.send(hooks.ListEntryUses(list_name, key)):
        for n, noun in answer or ():
            if n:
                found.append((n, noun))
    return found


def usage_sentence(found):
    parts = [f"{n:,} {noun if n != 1 else _singular(noun)}" for n, noun in found]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _singular(noun):
    special = {"activities": "activity", "companies": "company", "policies": "policy"}
    head, _, tail = noun.partition(" (")
    words = head.split(" ")
    last = words[-1]
    words[-1] = special.get(last, last[:-1] if last.endswith("s") else last)
    return " ".join(words) + (f" ({tail}" if tail else "")


def key_locked(entry):
    """Whether `entry`'s stored key may no longer change: a record or rule uses it."""
    if entry.pk is None:
        return False
    stored = type(entry).objects.filter(pk=entry.pk).values_list("key", flat=True).first()
    if stored is None:
        return False
    original = type(entry)(pk=entry.pk, key=stored)
    return bool(usage(original, counts=False))


def deletion_problem(entry):
    """The sentence refusing to delete `entry`, or None when it may go."""
    list_name = LIST_NAMES[type(entry)]
    noun = type(entry).noun
    if entry.key in PROTECTED_KEYS[list_name]:
        why = "imports use it by default" if entry.key == "import" else f"values no {noun} names are filed under it"
        return f"“{entry.label}” cannot be deleted: {why}. Rename it if you like."
    found = usage(entry)
    if found:
        return (
            f"“{entry.label}” cannot be deleted: {usage_sentence(found)} use it. "
            f"Untick “active” instead: old records keep it and menus stop offering it."
        )
    return None


@transaction.atomic
def delete_entry(entry):
    """Delete a list entry nothing uses; ValidationFailed with a sentence otherwise."""
    type(entry).objects.select_for_update().filter(pk=entry.pk).first()
    problem = deletion_problem(entry)
    if problem:
        raise ValidationFailed(problem)
    entry.delete()
    forget_entries()


# --- Editing an entry ---------------------------------------------------------------------


def parse_source_values(text):
    """Source values from the admin's text, one per line: spaces tidied, blank lines and
    repeats (any case) dropped."""
    values, seen = [], set()
    for line in str(text or "").splitlines():
        value = " ".join(line.split())
        if value and _norm(value) not in seen:
            seen.add(_norm(value))
            values.append(value)
    return values


def entry_problems(entry, *, source_values=None):
    """{field: [sentence]} for an entry about to be saved: a key that may no longer change, a
    label or source value that already names another entry of the list (a raw value must
    mean one entry)."""
    model = type(entry)
    problems: dict[str, list[str]] = {}
    values = entry.source_values if source_values is None else source_values
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return {"source_values": ["Give a list of text values."]}
    too_long = [v for v in values if len(v) > 80]
    if too_long:
        problems["source_values"] = [f"“{too_long[0][:40]}…” is longer than 80 characters."]
    if entry.pk is not None:
        stored = model.objects.filter(pk=entry.pk).values_list("key", flat=True).first()
        if stored is not None and stored != entry.key and key_locked(model(pk=entry.pk, key=stored)):
            problems["key"] = [
                f"The key “{stored}” is stored on records and rules already; it cannot change. Rename the label instead."
            ]
    others = {}
    for key, label_, other_values in model.objects.exclude(pk=entry.pk).values_list("key", "label", "source_values"):
        for raw in [key, label_, *(other_values or [])]:
            others.setdefault(_norm(raw), label_)
    for name, raws in (("label", [entry.label]), ("source_values", values)):
        for raw in raws:
            if raw and _norm(raw) in others:
                problems.setdefault(name, []).append(
                    f"“{raw}” already means {others[_norm(raw)]}; remove it there first (a raw value maps to one {model.noun})."
                )
    return problems
