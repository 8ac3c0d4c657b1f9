"""The dashboards' filter form: a date range of MQL days, an SDR, a channel, a campaign.

Nonsense (from after to, ranges over a year, unknown channels or SDRs, malformed dates)
becomes form errors on the page, never a 500."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone

from leadhub import taxonomy

from .filters import queue_workers
from .reports import Scope

DEFAULT_DAYS = 28
MAX_DAYS = 366
# Dates outside these bounds hold no data and would overflow the date arithmetic on the way
# to UTC (year 1 east of Greenwich, year 9999 plus a day).
FIRST_DAY = date(2000, 1, 1)


class ReportFilterForm(forms.Form):
    date_from = forms.DateField(label="MQL from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="to", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    owner = forms.ModelChoiceField(label="SDR", required=False, queryset=None, empty_label="Whole team")
    channel = forms.ChoiceField(label="Channel", required=False, choices=taxonomy.Menu("channel", first=("", "All channels")))
    campaign = forms.CharField(label="Campaign", required=False, max_length=120)

    def __init__(self, data=None, *, with_owner=True, **kwargs):
        today = timezone.localdate()
        if data is not None:
            data = data.copy()
            if not data.get("date_from") and not data.get("date_to"):
                data["date_from"] = (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
                data["date_to"] = today.isoformat()
        super().__init__(data, **kwargs)
        # People with an SDR profile: a manager is no "SDR" here unless they take handoffs.
        self.fields["owner"].queryset = queue_workers()
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username
        if not with_owner:
            del self.fields["owner"]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        today = timezone.localdate()
        for name in ("date_from", "date_to"):
            day = cleaned.get(name)
            if day and day < FIRST_DAY:
                self.add_error(name, f"Choose a date from {FIRST_DAY:%Y} on.")
                cleaned[name] = start = end = None
            elif day and day > today + timedelta(days=MAX_DAYS):
                self.add_error(name, "Choose a date at most a year from today.")
                cleaned[name] = start = end = None
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        elif start and end and (end - start).days >= MAX_DAYS:
            self.add_error("date_from", f"Choose at most {MAX_DAYS} days.")
        if start and start > today:
            self.add_error("date_from", "The start date is in the future: there is no data yet.")
        return cleaned

    def scope(self, now=None):
        data = self.cleaned_data
        owner = data.get("owner")
        return Scope(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            owner_id=owner.pk if owner else None,
            channel=data.get("channel") or "",
            campaign=(data.get("campaign") or "").strip(),
            now=now or timezone.now(),
        )


class SDRProfileForm(forms.Form):
    """The team page's row form: parses what was typed; services.sdr_profile_update decides
    what is allowed (capacity range, out-of-office end in the future) and records it."""

    available = forms.BooleanField(label="Available", required=False)
    out_of_office_until = forms.DateTimeField(
        label="Out of office until",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Enter a date and time, such as 2026-12-24 09:00."},
    )
    capacity = forms.IntegerField(
        label="Capacity",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        error_messages={"required": "Enter a capacity: the most open handoffs at once.", "invalid": "Enter a whole number."},
    )
