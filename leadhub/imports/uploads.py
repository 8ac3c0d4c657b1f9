"""The ways a file becomes an import job: an upload on /leads/import/ (`import_upload`, then
`import_set_mapping`), or a local file from `manage.py import_leads` (`import_local_file`,
which previews or imports in this process)."""

from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from .. import taxonomy
from ..errors import Conflict
from ..models import Channel, ImportMapping, ImportStatus, LeadImport
from .jobs import import_commit, open_job_file, preview_rows
from .mapping import MAX_LENGTHS, clean_fields, guess_fields, header_fingerprint, parse_mapping_options
from .reading import check_size, sniff
from .spec import ImportFileError, ImportSpec


def import_upload(*, uploaded_file, by, channel="import", campaign=""):
    """Store an uploaded file and sniff it. Returns the LeadImport, waiting for its mapping."""
    check_size(uploaded_file.size)
    job = LeadImport(
        original_name=Path(uploaded_file.name or "upload.csv").name[:255],
        size=uploaded_file.size,
        created_by=by,
        channel=channel or "import",
        campaign=campaign or "",
    )
    try:
        job.file.save(job.original_name, uploaded_file, save=False)
        with open_job_file(job) as binary:
            info = sniff(binary)
        job.encoding, job.delimiter, job.header, job.sample = info.encoding, info.delimiter, info.header, info.sample
        job.fields, _ = guess_fields(info.header)
        job.save()
    except BaseException:
        # Whatever stopped it (a file that is not CSV, a broken connection, an error of ours),
        # no copy of the personal data in the file stays behind.
        if job.file.name:
            job.file.storage.delete(job.file.name)
        raise
    return job


def import_from_path(*, path, by=None, channel="import", campaign=""):
    """The command's way in: copy a local file into import storage, then as import_upload."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"There is no file at {path}.")
    with path.open("rb") as source:
        uploaded = File(source, name=path.name)
        uploaded.size = path.stat().st_size
        return import_upload(uploaded_file=uploaded, by=by, channel=channel, campaign=campaign)


def _check_choice(channel, campaign):
    if channel not in taxonomy.keys(Channel):
        raise ImportFileError(f"Unknown channel “{channel}”: use one of {', '.join(taxonomy.keys(Channel))}.")
    if len(campaign or "") > MAX_LENGTHS["campaign"]:
        raise ImportFileError(f"The campaign is longer than {MAX_LENGTHS['campaign']} characters.")


def _save_mapping(job, *, fields, channel, campaign, by, status):
    """Store the mapping on the job (only while it has not started) and remember it for the header."""
    _check_choice(channel, campaign)
    fields = clean_fields(job.header, fields)
    extra = {"started_at": timezone.now()} if status == ImportStatus.IMPORTING else {}
    updated = LeadImport.objects.filter(
        pk=job.pk, status__in=[ImportStatus.UPLOADED, ImportStatus.PREVIEWED, ImportStatus.FAILED], started_at=None
    ).update(
        fields=fields,
        channel=channel,
        campaign=campaign or "",
        status=status,
        error="",
        bytes_done=0,
        rows_done=0,
        heartbeat_at=timezone.now(),
        attempts=0,
        **extra,
    )
    if not updated:
        raise Conflict("This import is already running or finished; its mapping cannot change now.")
    ImportMapping.objects.update_or_create(
        fingerprint=header_fingerprint(job.header),
        defaults={"header": job.header, "fields": fields, "updated_by": by},
    )


@transaction.atomic
def import_set_mapping(*, job, fields, channel, campaign, by=None):
    """Record the mapping, remember it for this header, and queue the preview."""
    _save_mapping(job, fields=fields, channel=channel, campaign=campaign, by=by, status=ImportStatus.PREVIEWING)
    from ..tasks import preview_import

    transaction.on_commit(lambda: preview_import.delay(job.pk))
    job.refresh_from_db()
    return job


def import_local_file(*, path, channel, campaign="", mapping=(), dry_run=False, by=None, on_start=None, on_progress=None):
    """The command line's import, in this process: sniff, map (remembered or guessed columns,
    then the `mapping` overrides "Column=field"), then either count (dry run, writes nothing)
    or import. Returns (header, fields, Summary) for a dry run, else (header, fields, the finished LeadImport).
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"There is no file at {path}.")
    if dry_run:
        check_size(path.stat().st_size)
        with path.open("rb") as binary:
            info = sniff(binary)
            # The channel is a row of a table: checked once the file is known to be readable
            # (a real import checks it when its mapping is saved).
            _check_choice(channel, campaign)
            fields = clean_fields(info.header, parse_mapping_options(info.header, mapping))
            if on_start:
                on_start(path.stat().st_size)
            spec = ImportSpec(info.encoding, info.delimiter, info.header, fields, channel, campaign)
            return info.header, fields, preview_rows(binary, spec, on_progress=on_progress)
    job = import_from_path(path=path, by=by, channel=channel, campaign=campaign)
    try:
        fields = clean_fields(job.header, parse_mapping_options(job.header, mapping))
        with transaction.atomic():
            _save_mapping(job, fields=fields, channel=channel, campaign=campaign, by=by, status=ImportStatus.IMPORTING)
    except ImportFileError:
        job.file.delete(save=False)
        job.delete()
        raise
    if on_start:
        on_start(job.size)
    return job.header, fields, import_commit(job_id=job.pk, on_progress=on_progress)
