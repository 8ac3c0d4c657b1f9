"""The lists marketers edit: channels, industries and activity kinds.

Leads, companies and activities store a list entry's `key` (a slug), so a renamed label keeps
the data and a new lead source is a row, not a migration. `source_values` are the raw values
other systems send ("Live chat", "Chat widget") that map to the entry; matching ignores case
and surrounding spaces (leadhub.taxonomy).

The columns that hold a key are `TaxonomyKeyField`s: plain text in the database (no foreign
key, no check constraint: docs/decisions/edited-lists.md), a menu of the list's entries in
forms, validated against the list by `full_clean`, and `get_<field>_display()` from the list's
labels, which each process keeps for a few seconds (`labels`) because pages print them on
every row.
"""

import time
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.signals import post_delete, post_save

KEY_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9_]*$", "Use lowercase letters, digits and underscores, starting with a letter (e.g. live_chat)."
)


class TaxonomyEntry(models.Model):
    key = models.CharField(
        max_length=40, unique=True, validators=[KEY_VALIDATOR], help_text="Stored on the records; cannot change once used."
    )
    label = models.CharField(max_length=80, help_text="What people see; rename freely.")
    source_values = models.JSONField(
        default=list,
        blank=True,
        help_text='Raw values other systems send that mean this entry, e.g. ["Live chat", "Chat widget"].',
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in lists and menus.")
    active = models.BooleanField(default=True, help_text="Inactive entries stay on old records but are not offered.")

    # What one entry of the list is called in sentences ("channel", "activity kind").
    noun = "entry"

    class Meta:
        abstract = True
        ordering = ["position", "label"]

    def __str__(self):
        return self.label


class Channel(TaxonomyEntry):
    # The widest column that stores a channel key (Lead.source, Handoff.channel, SLAPolicy.channel).
    key = models.CharField(
        max_length=20, unique=True, validators=[KEY_VALIDATOR], help_text="Stored on the records; cannot change once used."
    )
    noun = "channel"

    class Meta(TaxonomyEntry.Meta):
        pass


class Industry(TaxonomyEntry):
    noun = "industry"

    class Meta(TaxonomyEntry.Meta):
        verbose_name_plural = "industries"


class ActivityKind(TaxonomyEntry):
    """A kind of activity, with the properties its activities carry.

    `properties` declares them: [{"key": "url", "type": "text"}, {"key": "minutes", "type":
    "number"}, {"key": "form", "type": "choice", "options": ["demo", "contact"]}]. Engagement
    rule conditions may test declared properties only.
    """

    # Activity.kind is 30 characters wide.
    key = models.CharField(
        max_length=30, unique=True, validators=[KEY_VALIDATOR], help_text="Stored on the records; cannot change once used."
    )
    properties = models.JSONField(default=list, blank=True, help_text="Declared properties with their types.")
    negative = models.BooleanField(default=False, help_text="A signal against the lead (bounce, unsubscribe, spam complaint).")
    noun = "activity kind"


LIST_MODELS = {"channel": Channel, "industry": Industry, "activity_kind": ActivityKind}

# Labels are printed on every row of the queue and the lead list: each process keeps a list's
# (key, label, active) rows for LABEL_SECONDS, and forgets them at once when it saves or
# deletes an entry itself (other processes within LABEL_SECONDS).
LABEL_SECONDS = 10.0
_entries: dict[tuple[str, str], tuple[float, Any]] = {}


def kept(list_name, what, build):
    """build(model), kept for LABEL_SECONDS under (list_name, what)."""
    now = time.monotonic()
    cached = _entries.get((list_name, what))
    if cached is None or cached[0] < now:
        cached = _entries[(list_name, what)] = (now + LABEL_SECONDS, build(LIST_MODELS[list_name]))
    return cached[1]


def entries(list_name):
    """[(key, label, active)] of a list in its order, kept for LABEL_SECONDS."""
    return kept(list_name, "entries", lambda model: list(model.objects.values_list("key", "label", "active")))


def labels(list_name):
    """{key: label} of a list (kept for LABEL_SECONDS)."""
    return {key: label for key, label, _ in entries(list_name)}


def label(list_name, key):
    """The entry's label; the key itself for a key no entry has (yet), "" for none."""
    if not key:
        return ""
    return labels(list_name).get(key, key)


def forget_entries(*args, **kwargs):
    _entries.clear()


for _model in LIST_MODELS.values():
    post_save.connect(forget_entries, sender=_model, dispatch_uid=f"taxonomy-forget-{_model.__name__}-save")
    post_delete.connect(forget_entries, sender=_model, dispatch_uid=f"taxonomy-forget-{_model.__name__}-delete")


class TaxonomyKeyField(models.CharField):
    """A column holding the key of an entry of an edited list (`list_name`: channel, industry,
    activity_kind).

    In the database and in migrations it is a plain CharField (the list lives in a table, not
    in code); forms offer the list's entries, `full_clean` refuses keys no entry has, and the
    model gets `get_<name>_display()` from the list's labels.
    """

    def __init__(self, *args, list_name, **kwargs):
        self.list_name = list_name
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs

    def clone(self):
        _name, _path, args, kwargs = self.deconstruct()
        return self.__class__(*args, list_name=self.list_name, **kwargs)

    def contribute_to_class(self, cls, name, *args, **kwargs):
        super().contribute_to_class(cls, name, *args, **kwargs)
        if not cls._meta.abstract:
            list_name = self.list_name
            attname = self.attname

            def display(instance):
                return label(list_name, getattr(instance, attname))

            display.__name__ = f"get_{name}_display"
            setattr(cls, f"get_{name}_display", display)

    def choice_list(self):
        """(key, label) of every entry, inactive ones marked (old records keep them)."""
        return [(key, text if active else f"{text} (inactive)") for key, text, active in entries(self.list_name)]

    @property
    def flatchoices(self):  # the admin's list filter and display read these
        return self.choice_list()

    def validate(self, value, model_instance):
        super().validate(value, model_instance)
        if value in self.empty_values:
            return
        known = {key for key, _, _ in entries(self.list_name)}
        if value not in known and not LIST_MODELS[self.list_name].objects.filter(key=value).exists():
            noun = LIST_MODELS[self.list_name].noun
            raise ValidationError(f"“{value}” is not a {noun}; choose one of: {', '.join(sorted(known))}.", code="invalid_choice")

    def formfield(self, **kwargs):
        # A menu of the list, whatever widget the admin offers for text columns.
        def menu():
            return [*([("", "---------")] if self.blank else []), *self.choice_list()]

        return forms.ChoiceField(
            choices=menu,
            required=not self.blank,
            label=kwargs.get("label") or (self.verbose_name[:1].upper() + self.verbose_name[1:]),
            help_text=self.help_text,
            initial=self.get_default() if self.has_default() else None,
        )
