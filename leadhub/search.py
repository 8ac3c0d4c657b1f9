"""Lead search: the one function behind the lead list, GET /api/leads/?q= and the admin.

What a search means (on PostgreSQL and SQLite alike):

* The text is split into words; every word has to match (AND). A word matches when it appears
  in the lead's first name, last name, email or phone, or in its company's name. Words of three
  characters or more match anywhere ("garc" finds Garcia, "gmail" every Gmail address); shorter
  words match the start of one of those words ("li" finds Li and Lindqvist, not Emilia).
* Case and accents do not matter: both sides are folded (lowercase, common Latin accents
  removed: "Müller" = "muller", "Élodie" = "elodie"). Letters that fold to two (ß, æ, œ) stay.
* Ranking: leads whose email or full name is exactly the search come first, then those whose
  email or full name starts with it, then the rest by trigram similarity of name and email to
  the search (PostgreSQL; SQLite has no similarity and keeps the list's sort among the rest).

On PostgreSQL the folded text is an IMMUTABLE SQL function (migration 0012) with a pg_trgm GIN
index over it, so `LIKE '%word%'` on it is an index scan, and several words are a BitmapAnd.
unaccent() is not used: it is only STABLE (its dictionary can change), so it cannot be indexed
without a wrapper that lies about that; translate() over a fixed table is truly immutable.
On SQLite the same functions are registered in Python on the connection.
"""

from django.db import connection
from django.db.models import BooleanField, Case, F, FloatField, Func, IntegerField, Q, TextField, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

# Accented letter -> plain letter, applied after lowercasing. Migration 0012 writes the same
# table into the database function; tests hold the two equal. Changing it needs a migration that
# redefines the function and rebuilds the indexes over it.
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
# Companies matched per word before the lead query: up to this many become an id list that the
# planner ORs with the lead index (a BitmapOr with the company_id index); more become an array
# the database builds once (`company_id = ANY(ARRAY(SELECT ...))`), never a per-row subquery.
COMPANY_IDS_INLINE = 20_000


def fold(text):
    """Lowercase without common accents: the Python twin of the database's leadhub_fold()."""
    return (text or "").lower().translate(_FOLD_TABLE)


def words(text):
    """The folded words of a search, at most MAX_WORDS of at most MAX_WORD_LENGTH characters."""
    return [word[:MAX_WORD_LENGTH] for word in fold(text).split()][:MAX_WORDS]


def _sqlite_functions():
    """Register the folding functions on the SQLite connection (PostgreSQL has them from the
    migration). Cheap, and done per search so every connection has them."""
    connection.ensure_connection()
    raw = connection.connection
    raw.create_function("leadhub_fold", 1, fold, deterministic=True)
    raw.create_function("leadhub_lead_search_text", 4, lead_search_text, deterministic=True)
    raw.create_function("leadhub_full_name", 2, lambda first, last: fold(f"{first} {last}"), deterministic=True)
    raw.create_function("leadhub_company_search_text", 1, lambda name: fold(f" {name}"), deterministic=True)


def lead_search_text(first_name, last_name, email, phone):
    """What a lead's words are searched in (the Python twin of leadhub_lead_search_text())."""
    # A missing part (a lead without an email) is empty text, as coalesce() in the SQL twin.
    return fold(f" {first_name or ''} {last_name or ''} {email or ''} {phone or ''}")


def lead_document():
    return Func(
        F("first_name"), F("last_name"), F("email"), F("phone"), function="leadhub_lead_search_text", output_field=TextField()
    )


def company_document():
    return Func(F("name"), function="leadhub_company_search_text", output_field=TextField())


def full_name_folded():
    return Func(F("first_name"), F("last_name"), function="leadhub_full_name", output_field=TextField())


def _pattern(word):
    """The text a folded document must contain for `word`: anywhere, or at a word start."""
    return word if len(word) >= WORD_ANYWHERE else " " + word


def _company_matches(terms):
    """{word: [company ids] or None (too many to list)} for the words of a search: one query."""
    from .models import Company

    condition = Q()
    for word in terms:
        condition |= Q(_doc__contains=_pattern(word))
    rows = list(
        Company.objects.alias(_doc=company_document())
        .filter(condition)
        .annotate(doc=company_document())
        .values_list("id", "doc")[: COMPANY_IDS_INLINE * len(terms) + 1]
    )
    capped = len(rows) > COMPANY_IDS_INLINE * len(terms)
    matches = {}
    for word in terms:
        ids = [pk for pk, doc in rows if _pattern(word) in doc]
        matches[word] = None if capped or len(ids) > COMPANY_IDS_INLINE else ids
    return matches


def search_leads(queryset, text):
    """`queryset` narrowed to the leads matching every word of `text`, annotated with
    `search_tier` (0 exact, 1 prefix, 2 other) and `search_similarity` (0–1000; 0 on SQLite).
    The caller orders by them (leadhub.filters). A blank search returns `queryset` as it is."""
    from .models import Company

    terms = words(text)
    if not terms:
        return queryset
    if connection.vendor == "sqlite":
        _sqlite_functions()
    companies = _company_matches(terms)
    queryset = queryset.alias(_search_doc=lead_document())
    for word in terms:
        ids = companies[word]
        if ids is None and connection.vendor == "postgresql":
            like = "%" + _pattern(word).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            in_company = Q(
                RawSQL(
                    '"leadhub_lead"."company_id" = ANY(ARRAY(SELECT id FROM leadhub_company '
                    "WHERE leadhub_company_search_text(name) LIKE %s))",
                    [like],
                    output_field=BooleanField(),
                )
            )
        elif ids is None:
            in_company = Q(
                company__in=Company.objects.alias(_doc=company_document()).filter(_doc__contains=_pattern(word)).values("id")
            )
        else:
            in_company = Q(company__in=ids) if ids else Q()
        condition = Q(_search_doc__contains=_pattern(word))
        queryset = queryset.filter(condition | in_company if in_company else condition)
    phrase = " ".join(terms)
    email = Func(F("email"), function="leadhub_fold", output_field=TextField())
    queryset = queryset.alias(_search_name=full_name_folded(), _search_email=email).annotate(
        search_tier=Case(
            When(Q(_search_email=phrase) | Q(_search_name=phrase), then=Value(0)),
            When(Q(_search_email__startswith=phrase) | Q(_search_name__startswith=phrase), then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        ),
        search_similarity=_similarity(phrase),
    )
    return queryset


def _similarity(phrase):
    """Trigram similarity of the search to the lead's name or email, in thousandths (an integer, so
    a page cursor carries it exactly); 0 on SQLite."""
    if connection.vendor != "postgresql":
        return Value(0, output_field=IntegerField())
    typed = Value(phrase, output_field=TextField())
    best = Func(
        Func(full_name_folded(), typed, function="similarity", output_field=FloatField()),
        Func(
            Func(F("email"), function="leadhub_fold", output_field=TextField()),
            typed,
            function="similarity",
            output_field=FloatField(),
        ),
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
