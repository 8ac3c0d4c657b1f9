"""What an import reads a file with, and the error that refuses a whole file."""

from dataclasses import dataclass

from ..errors import ValidationFailed


class ImportFileError(ValidationFailed):
    """The whole file cannot be imported (not CSV, empty, too large, nothing mapped to email...)."""


@dataclass(frozen=True)
class FileInfo:
    encoding: str
    delimiter: str
    header: list
    sample: list


@dataclass(frozen=True)
class ImportSpec:
    """How to read one file: what the sniffing found and what the user chose."""

    encoding: str
    delimiter: str
    header: list
    fields: list  # one IMPORT_FIELDS key or "" per header column
    channel: str
    campaign: str

    @classmethod
    def for_job(cls, job):
        return cls(job.encoding, job.delimiter, job.header, job.fields, job.channel, job.campaign)
