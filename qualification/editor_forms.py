"""The scoring editor's forms: the model's settings, and its rules as stacked rows (see
docs/decisions/scoring-editor.md) that stay fast with many rules."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.renderers import Jinja2
from django.utils.html import escape
from django.utils.safestring import mark_safe

from . import language, rule_text
from .choices import FitField, ModelStatus, RequiredField
from .models import EngagementRule, FitRule, ScoringModel, Vocabulary


class QuickSelect(forms.Select):
    """A select rendered in Python: a rule row has four of them with up to a dozen options each,
    and rendering every option through a template was most of the editor's time for 50 rules."""

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        chosen = "" if value is None else str(value)
        parts = [f'<select name="{escape(name)}"']
        parts += [
            f" {escape(k)}" if v is True else f' {escape(k)}="{escape(v)}"' for k, v in attrs.items() if v not in (False, None)
        ]
        parts.append(">")
        parts += [
            f'<option value="{escape(key)}"{" selected" if str(key) == chosen else ""}>{escape(label)}</option>'
            for key, label in self.choices
        ]
        parts.append("</select>")
        return mark_safe("".join(parts))


class RuleForm(forms.ModelForm):
    """A rule row of the editor. The database's check constraints are not re-checked here with a
    query per row and constraint (the choices already hold the values to them), so opening and
    saving a model costs the same few queries for 5 rules as for 50."""

    # Widgets render with Jinja2: fifty rules are a few hundred widgets, which Django's template
    # language took most of the page's time to render.
    default_renderer = Jinja2()

    def __init__(self, *args, parent=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.parent = parent
        if "conditions" in self.fields:
            self.initial["conditions"] = language.conditions_text(self.instance.conditions if self.instance.pk else [])

    def validate_constraints(self):
        pass

    def _post_clean(self):
        # The rule's clean() checks names against the formset's one Vocabulary (no query per row).
        self.instance.vocabulary = _parent_vocabulary(self.parent)
        super()._post_clean()


def _parent_vocabulary(parent):
    """One Vocabulary per scoring model being saved, shared by its three rule groups, read only
    when a row is cleaned."""
    if parent is None:
        return None
    vocabulary = getattr(parent, "_rule_vocabulary", None)
    if vocabulary is None:
        vocabulary = parent._rule_vocabulary = Vocabulary.load()
    return vocabulary


class ConditionsField(forms.CharField):
    """Conditions as people write them: “url contains /pricing; minutes >= 30”. The rule's clean()
    checks them against its kind's declared properties; here they only become a list to store."""

    def prepare_value(self, value):
        return language.conditions_text(value) if isinstance(value, list) else value

    def has_changed(self, initial, data):
        # Compared as written: the stored values are typed (30.0), the posted ones text ("30").
        try:
            posted = self.to_python(data)
            before = initial if isinstance(initial, list) else self.to_python(initial)
        except ValidationError:
            return True
        return language.conditions_text(before) != language.conditions_text(posted)

    def to_python(self, value):
        text = super().to_python(value) or ""
        found = []
        for part in text.replace("\n", ";").split(";"):
            if not part.strip():
                continue
            split = language.split_condition(part.strip())
            if split is None:
                raise ValidationError(
                    f"“{part.strip()}”: write a condition as property, operator, value, e.g. “url contains /pricing” or “minutes >= 30”."
                )
            name, operator, raw = split
            found.append({"property": name, "operator": operator, "value": raw})
        return found


class RuleFormSet(forms.BaseInlineFormSet):
    """The rule rows. Each posted row finds its rule among those the formset read (one query),
    instead of the stock id field's query per row."""

    def get_form_kwargs(self, index):
        # The rows check names against one Vocabulary of the model (_parent_vocabulary).
        return {**super().get_form_kwargs(index), "parent": self.instance}

    def add_fields(self, form, index):
        super().add_fields(form, index)
        field = form.fields.get(self._pk_field.name)
        if isinstance(field, forms.ModelChoiceField):
            field.to_python = self._known_rule

    def _known_rule(self, value):
        if value in forms.Field.empty_values:
            return None
        try:
            rule = self._existing_object(int(value))
        except (TypeError, ValueError):
            rule = None
        if rule is None:
            raise ValidationError("This rule is no longer in this group or was deleted: reload the page.", code="invalid_choice")
        return rule


class RuleInline(admin.StackedInline):
    """Rules as stacked rows (qualification/admin/rule_rows.html): each rule a short block of
    its plain-language sentence over its fields, which wrap, so the editor fits a laptop."""

    extra = 0
    form = RuleForm
    formset = RuleFormSet
    template = "qualification/admin/rule_rows.html"
    group = rule_text.FIT
    help = ""

    def _editable(self, obj):
        return obj is None or obj.status == ModelStatus.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        form_field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if form_field is not None:
            form_field.help_text = ""  # said once above each group, not on every row
            if type(form_field.widget) is forms.Select:
                choices = [
                    ("", "none") if key == "" and label == "---------" else (key, label)
                    for key, label in form_field.widget.choices
                ]
                form_field.widget = QuickSelect(attrs=form_field.widget.attrs, choices=choices)
        return form_field

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.group, formset.group_title, formset.help = self.group, rule_text.GROUP_TITLES[self.group], self.help
        return formset


FIT_HELP = (
    "Points for who the lead is, from any lead field, company field or custom field. Value: one value; a "
    "comma-separated list for “is one of” / “is not one of”; “low, high” for “between”; nothing for “is empty”; "
    "numbers may end in k or m (10m = 10,000,000); dates as YYYY-MM-DD; yes or no; text matches ignore case."
)


def field_choices():
    """The fields a fit rule may read: the standard ones, then every custom field (one query)."""
    from leadhub.models import LeadField

    custom = [(f"attributes.{key}", f"{label} (custom)") for key, label in LeadField.objects.values_list("key", "label")]
    return [("", "---------"), *FitField.choices, *custom]


def kind_choices():
    from leadhub.models import ActivityKind

    return [("", "---------"), *ActivityKind.objects.values_list("key", "label")]


class FitRuleInline(RuleInline):
    model = FitRule
    fields = [("field", "operator", "value", "points", "label")]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "field":
            # Free text in the database, checked by the rule's clean(); offered as a list here.
            return forms.CharField(widget=QuickSelect(choices=field_choices()), label="field")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    verbose_name, verbose_name_plural = "fit rule", "Fit rules"
    help = FIT_HELP + " A rule with points below 0 moves to Negative rules when saved."

    def get_queryset(self, request):
        return super().get_queryset(request).filter(points__gte=0).order_by("id")


class NegativeFitRuleInline(FitRuleInline):
    verbose_name, verbose_name_plural = "negative rule", "Negative rules"
    group = rule_text.NEGATIVE
    help = "Fit rules that take points away (free-mail domains, students, competitors). " + FIT_HELP

    def get_queryset(self, request):
        return admin.StackedInline.get_queryset(self, request).filter(points__lt=0).order_by("id")


class EngagementRuleInline(RuleInline):
    model = EngagementRule
    fields = [("kind", "points", "cap", "window_days", "conditions", "aggregate", "aggregate_property", "at_least", "label")]
    verbose_name, verbose_name_plural = "engagement rule", "Engagement rules"
    group = rule_text.ENGAGEMENT
    help = (
        "Points for each activity of a kind within the window (today is day 1), halving every half-life; negative points "
        "take away. The cap is the most a rule gives or takes away (empty: no cap). Conditions, all of which must hold, "
        "test the kind's properties: “url contains /pricing; minutes >= 30” (text: equals, contains, starts with; "
        "numbers: >=, <=, =; choices: is one of a, b). Count or sum: the points once (not decayed) when the count of "
        "the activities, or the sum of a number property (“sum of”: minutes), within the window reaches “at least”."
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "kind":
            return forms.CharField(widget=QuickSelect(choices=kind_choices()), label="activity kind")
        if db_field.name == "conditions":
            return ConditionsField(
                required=False, label="conditions", widget=forms.TextInput(attrs={"placeholder": "url contains /pricing"})
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class ScoringModelForm(forms.ModelForm):
    required_fields = forms.MultipleChoiceField(
        choices=RequiredField.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Profile fields a lead must have to become an MQL (custom fields too).",
    )

    def __init__(self, *args, **kwargs):
        from leadhub.models import LeadField

        super().__init__(*args, **kwargs)
        custom = [(f"attributes.{key}", label) for key, label in LeadField.objects.values_list("key", "label")]
        self.fields["required_fields"].choices = [*RequiredField.choices, *custom]

    class Meta:
        model = ScoringModel
        fields = [
            "name",
            "mql_threshold",
            "min_grade",
            "required_fields",
            "grade_a_min",
            "grade_b_min",
            "grade_c_min",
            "half_life_days",
        ]
