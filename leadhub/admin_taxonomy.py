"""The admin of the lists marketers edit: channels, industries and activity kinds.

Source values are edited one per line; an activity kind's properties one per line as
`key: type`. A key is read-only once records or rules use it, and an entry in use cannot be
deleted (a sentence says how many records use it; deactivating keeps old records valid).
The rules live in leadhub.taxonomy; this module only parses the forms and shows the answers.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.urls import reverse

from . import taxonomy
from .models import ActivityKind, Channel, Industry

SOURCE_VALUES_HELP = (
    "One value per line, exactly as other systems send it in their lead-source or kind column "
    "(e.g. “Live chat” on one line, “Chat widget” on the next). Capitals and extra spaces do not "
    "matter. The key and the label match as well, so you need not repeat them."
)
PROPERTIES_HELP = (
    "One property per line as “key: type”. Types: text, number, or choice(option, option, …). "
    "For example:<br><code>url: text</code><br><code>minutes: number</code><br>"
    "<code>form: choice(demo, contact)</code><br>Activities must send declared properties with "
    "these types; other properties are kept but scoring rules cannot test them."
)


class EntryForm(forms.ModelForm):
    source_values_text = forms.CharField(
        label="Source values", required=False, widget=forms.Textarea(attrs={"rows": 6}), help_text=SOURCE_VALUES_HELP
    )

    class Meta:
        fields = ["key", "label", "source_values_text", "position", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source_values_text"].initial = "\n".join(self.instance.source_values or [])

    def clean(self):
        cleaned = super().clean()
        values = taxonomy.parse_source_values(cleaned.get("source_values_text"))
        self.instance.source_values = values
        if "key" in cleaned:
            self.instance.key = cleaned["key"]
        if "label" in cleaned:
            self.instance.label = cleaned["label"]
        for name, sentences in taxonomy.entry_problems(self.instance, source_values=values).items():
            field = "source_values_text" if name == "source_values" else name
            for sentence in sentences:
                self.add_error(field if field in self.fields else None, sentence)
        return cleaned


class ActivityKindForm(EntryForm):
    properties_text = forms.CharField(
        label="Properties", required=False, widget=forms.Textarea(attrs={"rows": 5}), help_text=PROPERTIES_HELP
    )

    class Meta:
        fields = ["key", "label", "negative", "properties_text", "source_values_text", "position", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["properties_text"].initial = taxonomy.properties_text(self.instance.properties)

    def clean_properties_text(self):
        properties, errors = taxonomy.parse_properties(self.cleaned_data.get("properties_text"))
        if errors:
            raise forms.ValidationError(errors)
        self.instance.properties = properties
        return self.cleaned_data.get("properties_text")


class EntryAdmin(admin.ModelAdmin):
    form = EntryForm
    list_display = ["label", "key", "source_values_shown", "active", "position"]
    list_filter = ["active"]
    search_fields = ["key", "label"]
    ordering = ["position", "label"]

    @admin.display(description="Source values")
    def source_values_shown(self, obj):
        return ", ".join(obj.source_values or []) or "—"

    def get_readonly_fields(self, request, obj=None):
        # The key is on the records: once anything uses it, it stays.
        return ["key"] if obj is not None and taxonomy.key_locked(obj) else []

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        # No bulk delete: each entry's deletion is checked and refused with its own sentence.
        actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and (problem := taxonomy.deletion_problem(obj)):
            self.message_user(request, problem, messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        taxonomy.delete_entry(obj)


@admin.register(Channel)
class ChannelAdmin(EntryAdmin):
    pass


@admin.register(Industry)
class IndustryAdmin(EntryAdmin):
    pass


@admin.register(ActivityKind)
class ActivityKindAdmin(EntryAdmin):
    form = ActivityKindForm
    list_display = ["label", "key", "properties_shown", "negative", "source_values_shown", "active", "position"]
    list_filter = ["active", "negative"]

    @admin.display(description="Properties")
    def properties_shown(self, obj):
        return taxonomy.properties_text(obj.properties).replace("\n", "; ") or "—"
