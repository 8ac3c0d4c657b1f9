"""The choices a user makes about one import beyond its column mapping, kept in
LeadImport.options (a dict, so a new choice needs no migration):

- `key`: "email" (rows are matched by e-mail) or "external_id" (by the column mapped to
  `external_id`, an id of the system named by `source`).
- `source`: the system the external ids (and the outcomes, and activity ids) come from, e.g. crm.
- `placeholders`: cell values that mean "empty" ("Select", "N/A", "-"...), compared ignoring case.
- `value_maps`: {column index: {raw value: value}}: the preview's value mapping (a country
  name to its code, a lead source to a channel, a word to a choice option...).
- `truncate`: column indexes whose too-long values are cut to the field's length (otherwise
  such a row is rejected).
- `update_channel_campaign`: whether rows update the channel and campaign of existing leads
  (they are a lead's first touch: by default an import leaves them).
- `bad_cells`: "skip" (a bad value in an optional column is left out, the row imported without
  it and the problem counted per column) or "reject" (the whole row is rejected).
"""

DEFAULT_PLACEHOLDERS = ["Select", "N/A", "NA", "n.a.", "-", "--", "null", "none", "#N/A", "(blank)", "?"]
BAD_CELLS = {"skip": "Import the row without the bad value", "reject": "Reject the whole row"}


def normalized(options, *, fields=()):
    """`options` with every key present and of the right type."""
    options = dict(options or {})
    has_external = "external_id" in fields or "lead_external_id" in fields
    has_email = "email" in fields or "lead_email" in fields
    key = options.get("key") or ("external_id" if has_external and not has_email else "email")
    if key not in ("email", "external_id"):
        key = "email"
    placeholders = options.get("placeholders")
    if placeholders is None:
        placeholders = list(DEFAULT_PLACEHOLDERS)
    elif isinstance(placeholders, str):
        placeholders = parse_placeholders(placeholders)
    return {
        "key": key,
        "source": (str(options.get("source") or "").strip() or "import")[:60],
        "placeholders": [str(p).strip() for p in placeholders if str(p).strip()],
        "value_maps": {str(k): dict(v) for k, v in (options.get("value_maps") or {}).items() if isinstance(v, dict)},
        "truncate": sorted({int(i) for i in options.get("truncate") or []}),
        "update_channel_campaign": bool(options.get("update_channel_campaign")),
        "bad_cells": options.get("bad_cells") if options.get("bad_cells") in BAD_CELLS else "skip",
    }


def parse_placeholders(text):
    """ "Select, N/A, -" (or one a line) -> ["Select", "N/A", "-"]."""
    parts = [p.strip() for line in str(text).splitlines() for p in line.split(",")]
    return [p for p in parts if p]


def placeholder_set(options):
    return {p.casefold() for p in options.get("placeholders", DEFAULT_PLACEHOLDERS)}
