"""The scoring admin's JSON: the "Export as JSON" action and the "Import from JSON" page, in
the document format of the API (qualification.model_json, docs/scoring-model-json.md)."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, LogEntry
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.text import slugify

from leadhub.errors import ValidationFailed

from . import model_json

MAX_BYTES = 2_000_000


@admin.action(description="Export as JSON")
def export_as_json(model_admin, request, queryset):
    """One model: its document as a download (several: a list of documents)."""
    models = list(queryset.prefetch_related("fit_rules", "engagement_rules").order_by("version"))
    documents = [model_json.export_model(m) for m in models]
    body = documents[0] if len(documents) == 1 else documents
    name = f"scoring-model-v{models[0].version}" if len(models) == 1 else "scoring-models"
    if len(models) == 1 and models[0].name:
        name += "-" + slugify(models[0].name)[:40]
    response = HttpResponse(json.dumps(body, indent=2, ensure_ascii=False) + "\n", content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return response


class ImportForm(forms.Form):
    file = forms.FileField(label="JSON file", required=False, help_text="A file from “Export as JSON” or the API.")
    text = forms.CharField(
        label="…or paste the document",
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "cols": 90, "spellcheck": "false"}),
    )

    def clean(self):
        cleaned = super().clean()
        upload, text = cleaned.get("file"), cleaned.get("text")
        if upload:
            if upload.size > MAX_BYTES:
                raise forms.ValidationError("The file is larger than 2 MB; a scoring model is a few kilobytes.")
            raw = upload.read()
        elif text:
            raw = text.encode()
        else:
            raise forms.ValidationError("Choose a JSON file or paste the document.")
        try:
            cleaned["document"] = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise forms.ValidationError(f"This is not JSON: {exc}.")
        return cleaned


def import_view(model_admin, request):
    """GET: the form. POST: create a draft from the document, or show every error in it."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    form = ImportForm(request.POST or None, request.FILES or None)
    errors = None
    if request.method == "POST" and form.is_valid():
        try:
            draft = model_json.import_model(form.cleaned_data["document"])
        except ValidationFailed as exc:
            errors = {"detail": exc.message, "fields": sorted(exc.field_errors.items())}
        else:
            LogEntry.objects.log_actions(
                user_id=request.user.pk, queryset=[draft], action_flag=ADDITION, change_message="Imported from JSON."
            )
            model_admin.message_user(request, f"Created draft v{draft.version} from the JSON document.", messages.SUCCESS)
            return redirect("admin:qualification_scoringmodel_change", draft.pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Import a scoring model from JSON",
        "opts": model_admin.model._meta,
        "form": form,
        "errors": errors,
        "format": model_json.FORMAT,
    }
    return TemplateResponse(request, "qualification/admin/import_json.html", context, status=400 if errors else 200)
