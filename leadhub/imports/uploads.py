"""The ways a file becomes an import job: an upload on /leads/import/ or /activities/import/
(`import_upload`, then `import_set_mapping`), or a local file from `manage.py import_leads` /
`import_activities` (`import_local_file`, which previews or imports in this process)."""

from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from .. import taxonomy
from ..choices import DefaultChannel
from ..errors import Conflict
from ..models import Channel, ImportKind, ImportMapping, ImportStatus, LeadImport
from .jobs import import_commit, open_job_file, preview_rows
from .mapping import (
    MAX_LENGTHS,
    NEW_FIELD,
    clean_fields,
    column_index,
    create_fields,
    guess_fields,
    header_fingerprint,
    parse_mapping_options,
)
from .options import normalized
from .reading import check_size, sniff
from .spec import ImportFileError, ImportSpec


def import_upload(*, uploaded_file, by, channel=DefaultChannel.IMPORT, campaign="", kind=ImportKind.LEADS):
    """Store an uploaded file and sniff it. Returns the LeadImport, waiting for its mapping."""
    check_size(uploaded_file.size)
    job = LeadImport(
        kind=kind,
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
        job.profile = info.profile
        job.fields, remembered = guess_fields(info.header, kind)
        if remembered is not None:
            job.options = dict(remembered.options or {})
        job.save()
    except BaseException:
        # Whatever stopped it (a file that is not CSV, a broken connection, an error of ours),
        # no copy of the personal data in the file stays behind.
        if job.file.name:
            job.file.storage.delete(job.file.name)
        raise
    return job


def import_from_path(*, path, by=None, channel=DefaultChannel.IMPORT, campaign="", kind=ImportKind.LEADS):
    """The command's way in: copy a local file into import storage, then as import_upload."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"There is no file at {path}.")
    with path.open("rb") as source:
        uploaded = File(source, name=path.name)
        uploaded.size = path.stat().st_size
        return import_upload(uploaded_file=uploaded, by=by, channel=channel, campaign=campaign, kind=kind)


def _check_choice(channel, campaign):
    if taxonomy.resolve(Channel, channel) != channel:
        raise ImportFileError(f"Unknown channel “{channel}”: use one of {', '.join(taxonomy.keys(Channel))}.")
    if len(campaign or "") > MAX_LENGTHS["campaign"]:
        raise ImportFileError(f"The campaign is longer than {MAX_LENGTHS['campaign']} characters.")


def _prepare(job, fields, options, *, new_field_types=None):
    """Create the custom fields the mapping asks for, then check it. Returns (fields, options)."""
    if job.kind == ImportKind.LEADS and any(f == NEW_FIELD or f.startswith("attributes.") for f in fields):
        fields, _ = create_fields(job.header, fields, job.profile, types=new_field_types)
    options = normalized(options, fields=fields)
    fields = clean_fields(job.header, fields, kind=job.kind, key=options["key"])
    return fields, options


def _save_mapping(job, *, fields, channel, campaign, by, status, options):
    """Store the mapping on the job (only while it has not started) and remember it for the header."""
    _check_choice(channel, campaign)
    extra = {"started_at": timezone.now()} if status == ImportStatus.IMPORTING else {}
    updated = LeadImport.objects.filter(
        pk=job.pk, status__in=[ImportStatus.UPLOADED, ImportStatus.PREVIEWED, ImportStatus.FAILED], started_at=None
    ).update(
        fields=fields,
        channel=channel,
        campaign=campaign or "",
        options=options,
        status=status,
        error="",
        bytes_done=0,
        rows_done=0,
        heartbeat_at=timezone.now(),
        attempts=0,
        column_stats={},
        changes={},
        notes=[],
        **extra,
    )
    if not updated:
        raise Conflict("This import is already running or finished; its mapping cannot change now.")
    ImportMapping.objects.update_or_create(
        fingerprint=header_fingerprint(job.header, job.kind),
        defaults={"header": job.header, "fields": fields, "updated_by": by, "kind": job.kind, "options": options},
    )


@transaction.atomic
def import_set_mapping(*, job, fields, channel, campaign, by=None, options=None, new_field_types=None):
    """Create the custom fields asked for, record the mapping and options, remember the mapping
    for this header, and queue the preview."""
    fields, options = _prepare(job, fields, {**(job.options or {}), **(options or {})}, new_field_types=new_field_types)
    _save_mapping(job, fields=fields, channel=channel, campaign=campaign, by=by, status=ImportStatus.PREVIEWING, options=options)
    from ..tasks import preview_import

    transaction.on_commit(lambda: preview_import.delay(job.pk))
    job.refresh_from_db()
    return job


def import_set_values(*, job, value_maps, by=None):
    """The preview's value mapping: {column index: {raw: value}} replaces the mapped columns'
    maps, and the preview runs again."""
    options = dict(job.options or {})
    options["value_maps"] = {str(k): {str(r): str(t) for r, t in v.items()} for k, v in value_maps.items()}
    return import_set_mapping(job=job, fields=job.fields, channel=job.channel, campaign=job.campaign, by=by, options=options)


def command_fields(header, *, kind, mapping=(), key_column=None, use_saved=True):
    """The commands' mapping: the remembered (unless use_saved is False) or guessed columns,
    the --mapping overrides, and --key naming the external id column. Returns (fields, the
    remembered ImportMapping used or None)."""
    fields, remembered = parse_mapping_options(header, mapping, kind=kind, use_saved=use_saved)
    if key_column:
        index = column_index(header, key_column)
        target = "external_id" if kind == ImportKind.LEADS else "lead_external_id"
        fields = ["" if f == target else f for f in fields]
        fields[index] = target
    return fields, remembered


def _column_options(header, options):
    """The commands name columns (--truncate COLUMN); the options keep their indexes."""
    options = dict(options)
    maps = {}
    for column, raw, value in options.pop("value_columns", None) or []:
        maps.setdefault(str(column_index(header, column)), {})[raw] = value
    if maps:
        options["value_maps"] = maps
    names = options.pop("truncate_columns", None)
    if names:
        options["truncate"] = sorted({*options.get("truncate", []), *(column_index(header, n) for n in names)})
    return options


def _merge_remembered(options, remembered):
    """The options remembered with a mapping (key, source, value maps, truncated columns...),
    under those given on the command line."""
    if remembered is None:
        return options
    base = dict(remembered.options or {})
    merged = {**base, **{k: v for k, v in options.items() if v not in ("", None, [], {}, False)}}
    maps = {k: dict(v) for k, v in (base.get("value_maps") or {}).items()}
    for column, values in (options.get("value_maps") or {}).items():
        maps.setdefault(column, {}).update(values)
    merged["value_maps"] = maps
    merged["truncate"] = sorted({*base.get("truncate", []), *options.get("truncate", [])})
    return merged


def import_local_file(
    *,
    path,
    channel=DefaultChannel.IMPORT,
    campaign="",
    mapping=(),
    dry_run=False,
    by=None,
    on_start=None,
    on_progress=None,
    kind=ImportKind.LEADS,
    key_column=None,
    options=None,
    create_missing_fields=False,
    use_saved=True,
    on_mapping=None,
):
    """The command line's import, in this process: sniff, map (remembered or guessed columns,
    then the `mapping` overrides "Column=field" and the key column), then either count (dry
    run, writes nothing but the custom fields asked for) or import.

    `on_mapping(header, fields, remembered)` is called once the mapping is known (remembered:
    the ImportMapping it came from, or None). Returns (header, fields, Summary) for a dry run,
    else (header, fields, the finished LeadImport).
    """
    options = dict(options or {})
    if key_column:
        options["key"] = "external_id"
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"There is no file at {path}.")
    if dry_run:
        check_size(path.stat().st_size)
        # Everything in one transaction rolled back: custom fields created for the dry run vanish.
        with path.open("rb") as binary, transaction.atomic():
            info = sniff(binary)
            _check_choice(channel, campaign)
            options = _column_options(info.header, options)
            fields, remembered = command_fields(
                info.header, kind=kind, mapping=mapping, key_column=key_column, use_saved=use_saved
            )
            options = _merge_remembered(options, remembered)
            if on_mapping:
                on_mapping(info.header, fields, remembered)
            if create_missing_fields:
                fields, _ = create_fields(info.header, fields, info.profile)
            options = normalized(options, fields=fields)
            fields = clean_fields(info.header, fields, kind=kind, key=options["key"])
            if on_start:
                on_start(path.stat().st_size)
            spec = ImportSpec(info.encoding, info.delimiter, info.header, fields, channel, campaign, options, kind)
            summary = preview_rows(binary, spec, on_progress=on_progress)
            transaction.set_rollback(True)
            return info.header, fields, summary
    _check_choice(channel, campaign)
    job = import_from_path(path=path, by=by, channel=channel, campaign=campaign, kind=kind)
    try:
        options = _column_options(job.header, options)
        fields, remembered = command_fields(job.header, kind=kind, mapping=mapping, key_column=key_column, use_saved=use_saved)
        options = _merge_remembered(options, remembered)
        if on_mapping:
            on_mapping(job.header, fields, remembered)
        if not create_missing_fields:
            missing = [f for f in fields if f == NEW_FIELD]
            if missing:
                raise ImportFileError("--mapping COLUMN=new creates a custom field: add --create-fields.")
        with transaction.atomic():
            fields, options = (
                _prepare(job, fields, options)
                if create_missing_fields
                else (
                    clean_fields(job.header, fields, kind=kind, key=normalized(options, fields=fields)["key"]),
                    normalized(options, fields=fields),
                )
            )
            _save_mapping(
                job, fields=fields, channel=channel, campaign=campaign, by=by, status=ImportStatus.IMPORTING, options=options
            )
    except ImportFileError:
        job.file.delete(save=False)
        job.delete()
        raise
    if on_start:
        on_start(job.size)
    return job.header, fields, import_commit(job_id=job.pk, on_progress=on_progress)
