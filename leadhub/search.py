"""Lead search: the one function behind the lead list, GET /api/leads/?q= and the admin.

What a search means (on PostgreSQL and SQLite alike):

* The text is split into words; every word has to match (AND). A word matches when it appears
  in the lead's first name, last name, email or phone, its company's name or one of its
  external ids. Words of three characters or more match anywhere ("garc" finds Garcia, "gmail"
  every Gmail address); shorter words match the start of one of those words ("li" finds Li and
  Lindqvist, not Emilia).
* Case and accents do not matter: both sides are folded (lowercase, common Latin accents
  removed: "Müller" = "muller", "Élodie" = "elodie"). Letters that fold to two (ß, æ, œ) stay.
* Ranking: leads whose email or full name is exactly the search come first, then those whose
  email or full name starts with it, then the rest by trigram similarity of name and email to
  the search (PostgreSQL; SQLite has no similarity and keeps the list's sort among the rest).

Where: the folded text is kept in its own table (LeadSearch, one row per lead), written by
`refresh_search_text` when a lead's name, email, phone, company (or its name) or external ids
change, never by scoring. On PostgreSQL a pg_trgm GIN index over it makes `LIKE '%word%'` an
index scan (several words are one index condition). The folding is an IMMUTABLE SQL function
(leadhub_fold, migration 0013) with this module's `fold` as its Python twin: unaccent() is only
STABLE (its dictionary can change); translate() over a fixed table is truly immutable.
"""

from collections.abc import Iterable

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Case, F, FloatField, Func, IntegerField, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Cast

from . import pagination

# Accented letter -> plain letter, applied after lowercasing. Migration 0013 writes the same
# table into the database function; tests hold the two equal. Changing it needs a migration that
# redefines the function and rewrites the search table.
FOLD_PAIRS = (
    "àa áa âa ãa äa åa āa ăa ąa çc ćc čc ďd đd èe ée êe ëe ēe ėe ęe ěe ìi íi îi ïi īi įi ıi ľl łl ńn ňn ñn "
    "òo óo ôo õo öo øo ōo őo ŕr řr śs šs şs ťt ţt ùu úu ûu üu ūu ůu űu ųu ýy ÿy źz żz žz"
).split()
FOLD_FROM = "".join(pair[0] for pair in FOLD_PAIRS)
FOLD_TO = "".join(pair[1] for pair in FOLD_PAIRS)
_FOLD_TABLE = str.maketrans(FOLD_FROM, FOLD_TO)

# Words shorter than this match the start of a word (a trigram index needs three characters).
WORD_ANYWHERE = 3
MAX_WORDS = 8
MAX_WORD_LENGTH = 100
# A search matching more leads than this is "broad": ranking every match by similarity would read
# them all, so its pages list exact, then prefix matches, then the rest in the list's own order.
BROAD = 2_000


def fold(text):
    """Lowercase without common accents: the Python twin of the database's leadhub_fold()."""
    return (text or "").lower().translate(_FOLD_TABLE)


def words(text):
    """The folded words of a search, at most MAX_WORDS of at most MAX_WORD_LENGTH characters."""
    return [word[:MAX_WORD_LENGTH] for word in fold(text).split()][:MAX_WORDS]


def search_document(first_name, last_name, email, phone, company_name="", external_ids=()):
    """What a lead's words are searched in: the Python twin of REFRESH_SQL's document. Empty
    or missing parts (a lead without email) leave nothing, never make the text NULL."""
    parts = [first_name, last_name, email, phone, company_name, *external_ids]
    return fold(" " + " ".join(part for part in parts if part))


def full_name(first_name, last_name):
    return fold(f"{first_name or ''} {last_name or ''}".strip())


# One statement for any number of leads: their text from the lead, its company and its external
# ids, written only where it differs (a refresh of unchanged leads writes nothing).
REFRESH_SQL = """
INSERT INTO leadhub_leadsearch (lead_id, document, name, email)
SELECT l.id,
       leadhub_fold(concat_ws(' ', '', NULLIF(l.first_name, ''), NULLIF(l.last_name, ''), NULLIF(l.email, ''),
                              NULLIF(l.phone, ''), NULLIF(c.name, ''),
                              (SELECT string_agg(x.external_id, ' ' ORDER BY x.source, x.id)
                                 FROM leadhub_leadexternalid x WHERE x.lead_id = l.id AND x.external_id <> ''))),
       leadhub_fold(btrim(l.first_name || ' ' || l.last_name)),
       leadhub_fold(COALESCE(l.email, ''))
  FROM leadhub_lead l LEFT JOIN leadhub_company c ON c.id = l.company_id
 WHERE l.id IN (SELECT leadhub_lead.id FROM leadhub_lead WHERE {where})
 ORDER BY l.id
    ON CONFLICT (lead_id) DO UPDATE
   SET document = EXCLUDED.document, name = EXCLUDED.name, email = EXCLUDED.email
 WHERE (leadhub_leadsearch.document, leadhub_leadsearch.name, leadhub_leadsearch.email)
       IS DISTINCT FROM (EXCLUDED.document, EXCLUDED.name, EXCLUDED.email)
"""


def refresh_search_text(lead_ids: Iterable[int] | QuerySet = (), *, company_ids: Iterable[int] | QuerySet = ()) -> None:
    """Rewrite the search text of these leads and of every lead of these companies (after a
    company's name changed): set-based, one statement on PostgreSQL. Ids or querysets of ids
    (`.values("pk")`). Call it from every writer that changes a lead's first or last name,
    email, phone, company, its company's name or its external ids, in the same transaction."""
    from .models import Lead, LeadExternalId, LeadSearch

    parts, params = [], []
    for column, ids in (("leadhub_lead.id", lead_ids), ("leadhub_lead.company_id", company_ids)):
        if isinstance(ids, QuerySet):
            try:
                sql, sub_params = ids.values_list("pk", flat=True).query.sql_with_params()
            except EmptyResultSet:  # filter(x__in=[]): no leads
                continue
            parts.append(f"{column} IN ({sql})")
            params.extend(sub_params)
        else:
            ids = sorted({int(pk) for pk in ids if pk is not None})
            if ids:
                parts.append(f"{column} IN ({', '.join(['%s'] * len(ids))})")
                params.extend(ids)
    if not parts:
        return
    where = " OR ".join(parts)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(REFRESH_SQL.format(where=where), params)
        return
    # SQLite (development and tests): the same text computed in Python, one upsert.
    leads = list(Lead.objects.extra(where=[where], params=params).select_related("company"))
    external = {}
    for lead_id, value in (
        LeadExternalId.objects.filter(lead__in=[lead.pk for lead in leads])
        .exclude(external_id="")
        .order_by("source", "id")
        .values_list("lead_id", "external_id")
    ):
        external.setdefault(lead_id, []).append(value)
    rows = [
        LeadSearch(
            lead_id=lead.pk,
            document=search_document(
                lead.first_name,
                lead.last_name,
                lead.email,
                lead.phone,
                lead.company.name if lead.company else "",
                external.get(lead.pk, ()),
            ),
            name=full_name(lead.first_name, lead.last_name),
            email=fold(lead.email),
        )
        for lead in leads
    ]
    if rows:
        LeadSearch.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["lead"], update_fields=["document", "name", "email"], batch_size=500
        )


def _pattern(word):
    """The text a folded document must contain for `word`: anywhere, or at a word start."""
    return word if len(word) >= WORD_ANYWHERE else " " + word


def search_leads(queryset, text):
    """`queryset` narrowed to the leads matching every word of `text`, annotated with
    `search_tier` (0 exact, 1 prefix, 2 other) and `search_similarity` (0–1000; 0 on SQLite).
    The caller orders by them (leadhub.filters). A blank search returns `queryset` as it is."""
    terms = words(text)
    if not terms:
        return queryset
    condition = Q()
    for word in terms:
        condition &= Q(search_text__document__contains=_pattern(word))
    phrase = " ".join(terms)
    exact = Q(search_text__email=phrase) | Q(search_text__name=phrase)
    prefix = Q(search_text__email__startswith=phrase) | Q(search_text__name__startswith=phrase)
    broad = _matches_more_than(terms, BROAD)
    queryset = queryset.filter(condition).annotate(
        search_tier=Case(When(exact, then=Value(0)), When(prefix, then=Value(1)), default=Value(2), output_field=IntegerField()),
        search_similarity=Value(0, output_field=IntegerField()) if broad else _similarity(phrase),
    )
    if broad:
        # Pages read tier by tier (leadhub.pagination.Tiers): exact and prefix matches from the
        # name and email indexes, then the rest in the list's own order, a page at a time.
        queryset = pagination.tiered(
            # (plain conditions, not the rank's CASE: the planner estimates them, so it walks the
            # sort index for the big last tier instead of reading all of it)
            queryset,
            pagination.Tiers("search_tier", (exact, prefix & ~exact, ~prefix)),
        )
    queryset.query.search_broad = broad
    return queryset


def _matches_more_than(terms, limit):
    """True when more than `limit` leads match: one query reading at most limit + 1 rows of the
    search table (the trigram index narrows them on PostgreSQL)."""
    from .models import LeadSearch

    condition = Q()
    for word in terms:
        condition &= Q(document__contains=_pattern(word))
    return LeadSearch.objects.filter(condition)[: limit + 1].count() > limit


def _similarity(phrase):
    """Trigram similarity of the search to the lead's name or email, in thousandths (an integer, so
    a page cursor carries it exactly); 0 on SQLite."""
    if connection.vendor != "postgresql":
        return Value(0, output_field=IntegerField())
    typed = Value(phrase, output_field=TextField())
    best = Func(
        Func(F("search_text__name"), typed, function="similarity", output_field=FloatField()),
        Func(F("search_text__email"), typed, function="similarity", output_field=FloatField()),
        function="GREATEST",
        output_field=FloatField(),
    )
    return Cast(best * Value(1000.0), IntegerField())


# Distinct campaigns starting with what was typed, case-insensitively: a loose index scan over
# lead_campaign_upper (one index descent per campaign shown) instead of reading every lead.
CAMPAIGNS_SQL = """
WITH RECURSIVE found(u, c, n) AS (
    (SELECT UPPER(campaign::text), campaign, 1 FROM leadhub_lead
      WHERE UPPER(campaign::text) >= %(start)s AND campaign <> '' ORDER BY 1, 2 LIMIT 1)
    UNION ALL
    SELECT nxt.u, nxt.c, found.n + 1 FROM found, LATERAL (
        SELECT UPPER(campaign::text) AS u, campaign AS c FROM leadhub_lead
         WHERE (UPPER(campaign::text), campaign) > (found.u, found.c) ORDER BY 1, 2 LIMIT 1) nxt
     WHERE found.u LIKE %(pattern)s AND found.n < %(limit)s
)
SELECT c FROM found WHERE u LIKE %(pattern)s ORDER BY u, c
"""


def campaigns_starting_with(typed, *, limit):
    """Distinct campaigns that start with `typed` (case-insensitive), alphabetically, at most `limit`."""
    from .models import Lead

    if connection.vendor != "postgresql":
        leads = Lead.objects.exclude(campaign="")
        if typed:
            leads = leads.filter(campaign__istartswith=typed)
        return list(leads.order_by("campaign").values_list("campaign", flat=True).distinct()[:limit])
    start = typed.upper()
    pattern = start.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with connection.cursor() as cursor:
        cursor.execute(CAMPAIGNS_SQL, {"start": start, "pattern": pattern, "limit": limit})
        return [row[0] for row in cursor.fetchall()]
