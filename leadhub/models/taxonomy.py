"""The lists marketers edit: channels, industries and activity kinds.

Leads, companies and activities store a list entry's `key` (a slug), so a renamed label keeps
the data and a new lead source is a row, not a migration. `source_values` are the raw values
other systems send ("Live chat", "Chat widget") that map to the entry; matching ignores case
and surrounding spaces (leadhub.taxonomy).
"""

from django.core.validators import RegexValidator
from django.db import models

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

    class Meta:
        abstract = True
        ordering = ["position", "label"]

    def __str__(self):
        return self.label


class Channel(TaxonomyEntry):
    class Meta(TaxonomyEntry.Meta):
        pass


class Industry(TaxonomyEntry):
    class Meta(TaxonomyEntry.Meta):
        verbose_name_plural = "industries"


class ActivityKind(TaxonomyEntry):
    """A kind of activity, with the properties its activities carry.

    `properties` declares them: [{"key": "url", "type": "text"}, {"key": "minutes", "type":
    "number"}, {"key": "form", "type": "choice", "options": ["demo", "contact"]}]. Engagement
    rule conditions may test declared properties only.
    """

    properties = models.JSONField(default=list, blank=True, help_text="Declared properties with their types.")
    negative = models.BooleanField(default=False, help_text="A signal against the lead (bounce, unsubscribe, spam complaint).")
