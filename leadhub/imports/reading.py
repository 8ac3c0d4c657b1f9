"""Reading an uploaded CSV file: its size, encoding, delimiter, header and sample rows
(`sniff`), then every data row streamed from disk with how far into the file it is
(`iter_records`). Nothing here knows about leads."""

import codecs
import csv
import io
import re

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from ..services import normalize_email
from .options import placeholder_set
from .spec import FileInfo, ImportFileError
from .values import profile_columns

SAMPLE_BYTES = 64 * 1024
SAMPLE_ROWS = 5
PROFILE_ROWS = 2000  # rows read at upload to show each column's values and guess a new field's type
DELIMITERS = ",;\t|"
# Bytes Windows-1252 leaves undefined: a file with them is read as Latin-1 instead.
CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")


def human_size(n):
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def check_size(size):
    limit = settings.LEADHUB_IMPORT_MAX_BYTES
    if size > limit:
        raise ImportFileError(
            f"The file is {human_size(size)}; files up to {human_size(limit)} can be imported. "
            "Split it into smaller files and import them one after the other."
        )


def detect_encoding(binary):
    """UTF-8 (with or without BOM), else Windows-1252, else Latin-1. Reads the file in chunks."""
    binary.seek(0)
    start = binary.read(4)
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if start in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):  # before UTF-16: FF FE starts both
        raise ImportFileError("This file is UTF-32 text, which leadhub does not read. Save it as CSV UTF-8 and upload that.")
    if start[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"  # Excel's "Unicode text" export
    binary.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := binary.read(1 << 20):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    binary.seek(0)
    while chunk := binary.read(1 << 20):
        if CP1252_UNDEFINED.search(chunk):
            return "latin-1"
    return "cp1252"


def _detect_delimiter(sample_text):
    """csv.Sniffer's guess when the header and the sample rows agree with it, else the
    candidate that splits the header into the most columns consistently."""
    # Cut at the last line break: a half row confuses the sniffer.
    cut = sample_text.rfind("\n")
    sample_text = sample_text[: cut + 1] if cut > 0 else sample_text
    try:
        sniffed = csv.Sniffer().sniff(sample_text, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None

    def widths(delimiter):
        rows = list(csv.reader(io.StringIO(sample_text), delimiter=delimiter))[:50]
        rows = [row for row in rows if any(cell.strip() for cell in row)]
        return [len(row) for row in rows]

    def consistent(delimiter):
        w = widths(delimiter)
        return bool(w) and w[0] > 1 and sum(1 for n in w if n == w[0]) >= 0.8 * len(w)

    if sniffed and consistent(sniffed):
        return sniffed
    candidates = sorted(DELIMITERS, key=lambda d: -(widths(d) or [0])[0])
    for delimiter in candidates:
        if consistent(delimiter):
            return delimiter
    return sniffed or ","


class _CountingReader(io.RawIOBase):
    """Wraps a binary file and counts the bytes read, for progress."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def _reader(binary, encoding, delimiter):
    counter = _CountingReader(binary)
    text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), encoding=encoding, newline="")
    return counter, csv.reader(text, delimiter=delimiter)


def sniff(binary):
    """Encoding, delimiter, header and sample rows of a CSV file, or ImportFileError."""
    binary.seek(0)
    head = binary.read(SAMPLE_BYTES)
    if not head.strip():
        raise ImportFileError("The file is empty: there is nothing to import.")
    encoding = detect_encoding(binary)
    if encoding != "utf-16" and b"\x00" in head:
        raise ImportFileError("This is not a CSV file (it contains binary data). Save the sheet as CSV and upload that.")
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    sample_text = decoder.decode(head, final=False)
    delimiter = _detect_delimiter(sample_text)
    binary.seek(0)
    _, reader = _reader(binary, encoding, delimiter)
    try:
        header = next(reader, None)
        sample, profiled = [], []
        for row in reader:
            if any(cell.strip() for cell in row):
                if len(sample) < SAMPLE_ROWS:
                    sample.append(row)
                profiled.append(row)
            if len(profiled) >= PROFILE_ROWS:
                break
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportFileError(f"This file cannot be read as CSV: {exc}.")
    header = [cell.strip() for cell in header or []]
    if not any(header):
        raise ImportFileError("The file has no header row: the first line must name the columns (for example Email, First name).")
    if any("@" in cell and validate_email_ok(cell) for cell in header):
        raise ImportFileError("The first line looks like data, not column names: add a header row naming the columns.")
    if not sample:
        raise ImportFileError("The file has a header but no rows to import.")
    # Unnamed columns get a name, so the mapping page can refer to them.
    header = [cell or f"Column {i + 1}" for i, cell in enumerate(header)]
    profile = profile_columns(header, profiled, placeholder_set({}))
    return FileInfo(encoding=encoding, delimiter=delimiter, header=header, sample=sample, profile=profile)


def validate_email_ok(value):
    try:
        validate_email(normalize_email(value))
    except DjangoValidationError:
        return False
    return True


def iter_records(binary, spec):
    """(line, cells, bytes read so far) for every non-blank data row. Line numbers count records
    as a spreadsheet does (the header is line 1), so a quoted cell with line breaks is one line."""
    binary.seek(0)
    counter, reader = _reader(binary, spec.encoding, spec.delimiter)
    line = 1
    try:
        next(reader, None)
        for cells in reader:
            line += 1
            if not any(cell.strip() for cell in cells):
                continue
            yield line, cells, counter.count
    except csv.Error as exc:
        raise ImportFileError(f"Line {line + 1} cannot be read as CSV ({exc}); nothing after it was read.")
    except UnicodeDecodeError:
        raise ImportFileError(f"Line {line + 1} is not valid {spec.encoding} text; save the file as UTF-8 CSV.")
