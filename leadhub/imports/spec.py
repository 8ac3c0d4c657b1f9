"""What an import reads a file with, and the error that refuses a whole file."""

from dataclasses import dataclass, field

from ..errors import ValidationFailed


class ImportFileError(ValidationFailed):
    """The whole file cannot be imported (not CSV, empty, too large, no match key mapped...)."""


@dataclass(frozen=True)
class FileInfo:
    encoding: str
    delimiter: str
    header: list
    sample: list
    profile: list = field(default_factory=list)


@dataclass(frozen=True)
class ImportSpec:
    """How to read one file: what the sniffing found and what the user chose."""

    encoding: str
    delimiter: str
    header: list
    fields: list  # one field name (mapping.IMPORT_FIELDS, "attributes.KEY", outcome...) or "" per column
    channel: str
    campaign: str
    options: dict = field(default_factory=dict)  # see leadhub.imports.options
    kind: str = "leads"

    @classmethod
    def for_job(cls, job):
        return cls(
            job.encoding, job.delimiter, job.header, job.fields, job.channel, job.campaign, dict(job.options or {}), job.kind
        )
