"""The quality report's choices (model version, label, period, horizon, filters), parsed once for
the feedback page's section, the preview's backtest and the API."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from leadhub import taxonomy
from leadhub.models import Channel, LeadField, LeadFieldType

from .models import ScoringModel
from .quality_labels import ACCEPTANCE, ATTRIBUTE_KEY, DEFAULT_HORIZON, LABELS, OUTCOME, Period

DEFAULT_DAYS = 365
MAX_DAYS = 3 * 366


def choice_field_options():
    """("key=value", "Label: value") for every value of every custom choice field."""
    out = []
    for lead_field in LeadField.objects.filter(type=LeadFieldType.CHOICE):
        for option in lead_field.options or []:
            value = option.get("value", option.get("key", "")) if isinstance(option, dict) else str(option)
            if value:
                out.append((f"{lead_field.key}={value}", f"{lead_field.label}: {value}"))
    return out


class QualityForm(forms.Form):
    model = forms.ModelChoiceField(label="Model version", queryset=ScoringModel.objects.none(), required=False, empty_label=None)
    label = forms.ChoiceField(label="Label", choices=[(OUTCOME, "Won (outcome)"), (ACCEPTANCE, "SDR acceptance")], required=False)
    date_from = forms.DateField(label="Leads created from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="to", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    horizon = forms.IntegerField(label="Horizon (days)", min_value=1, max_value=730, required=False)
    channel = forms.ChoiceField(label="Leads from channel", required=False)
    campaign = forms.CharField(label="Leads from campaign", max_length=120, required=False)
    field = forms.ChoiceField(label="Custom field", required=False)

    def __init__(self, data=None, *, with_model=True, **kwargs):
        data = data.copy() if data is not None else {}
        prefix = kwargs.get("prefix")
        today = timezone.localdate()
        # The period shown is the one measured: a year to today unless chosen.
        for name, day in (("date_from", today - timedelta(days=DEFAULT_DAYS - 1)), ("date_to", today)):
            key = f"{prefix}-{name}" if prefix else name
            if not data.get(key):
                data[key] = day.isoformat()
        horizon = f"{prefix}-horizon" if prefix else "horizon"
        if not data.get(horizon):
            data[horizon] = str(DEFAULT_HORIZON)
        super().__init__(data, **kwargs)
        if with_model:
            self.fields["model"].queryset = ScoringModel.objects.order_by("-version")
            self.fields["model"].label_from_instance = lambda m: str(m)
        else:
            del self.fields["model"]
        self.fields["channel"].choices = [("", "All channels"), *taxonomy.choices(Channel, active_only=False)]
        self.fields["field"].choices = [("", "Any"), *choice_field_options()]
        self.fields["label"].help_text = "; ".join(LABELS.values())

    def clean(self):
        cleaned = super().clean()
        today = timezone.localdate()
        start = cleaned.get("date_from") or (today - timedelta(days=DEFAULT_DAYS - 1))
        end = cleaned.get("date_to") or today
        if start > end:
            self.add_error("date_to", "The end date is before the start date.")
        elif (end - start).days >= MAX_DAYS:
            self.add_error("date_from", f"Choose at most {MAX_DAYS} days.")
        cleaned["date_from"], cleaned["date_to"] = start, end
        chosen = cleaned.get("field") or ""
        if chosen:
            key, _, value = chosen.partition("=")
            if not ATTRIBUTE_KEY.match(key):
                self.add_error("field", "Choose a custom field.")
        return cleaned

    def chosen_model(self):
        model = self.cleaned_data.get("model") if "model" in self.fields else None
        if model is None:
            model = ScoringModel.objects.filter(status="published").first()
        return model

    def period(self) -> Period:
        data = self.cleaned_data
        key, _, value = (data.get("field") or "").partition("=")
        return Period(
            date_from=data["date_from"],
            date_to=data["date_to"],
            label=data.get("label") or OUTCOME,
            horizon_days=data.get("horizon") or DEFAULT_HORIZON,
            channel=data.get("channel") or "",
            campaign=(data.get("campaign") or "").strip(),
            field_key=key,
            field_value=value,
        )
