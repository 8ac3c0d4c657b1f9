"""Searching the lead list: several words all have to match, and the exact person comes first."""

import pytest

from leadhub.filters import LeadFilter
from leadhub.models import Lead
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db


def search(text, **params):
    found = LeadFilter({"q": text, **params}, queryset=Lead.objects.select_related("company"))
    assert found.is_valid(), found.errors
    return list(found.qs)


def test_several_words_must_each_match_the_name_email_or_company():
    ada = LeadFactory(
        first_name="Ada", last_name="Lovelace", email="ada@engines.example", company=CompanyFactory(name="Engines Ltd")
    )
    LeadFactory(first_name="Ada", last_name="Byron", email="byron@poems.example", company=CompanyFactory(name="Poems"))
    LeadFactory(first_name="Grace", last_name="Lovelace", email="grace@navy.example", company=CompanyFactory(name="Navy"))

    assert search("ada lovelace") == [ada]
    assert search("Ada Engines") == [ada]  # a name word and a company word
    assert search("lovelace engines.example") == [ada]  # an email part counts too
    assert len(search("ada")) == 2
    assert search("ada nobody") == []


def test_an_exact_full_name_comes_first_whatever_the_newer_partial_matches():
    exact = LeadFactory(first_name="Anna", last_name="Lee", email="a.lee@one.example")
    for i in range(3):  # newer leads, shown first by default, that match both words only in part
        LeadFactory(first_name="Annabel", last_name=f"Leeds{i}", email=f"annabel{i}@two.example")

    found = search("anna lee")
    assert found[0] == exact
    assert len(found) == 4


def test_an_exact_email_comes_first_even_when_sorted_by_another_column():
    LeadFactory(first_name="Sam", last_name="Stone", email="sam.stone@rocks.example.org", total_score=90)
    exact = LeadFactory(first_name="Sam", last_name="Stone", email="sam.stone@rocks.example", total_score=10)

    found = search("Sam.Stone@rocks.example", ordering="-score")
    assert found[0] == exact and len(found) == 2


def test_a_blank_search_lists_everyone():
    LeadFactory.create_batch(3)
    assert len(search("   ")) == 3


def test_a_name_that_starts_with_the_search_comes_before_other_matches():
    LeadFactory(first_name="Jo", last_name="Annabel", email="jo@x.example")  # matches "anna" inside a word
    starts = LeadFactory(first_name="Anna", last_name="Berg", email="ab@y.example")
    exact = LeadFactory(first_name="Anna", last_name="", email="anna@z.example")

    found = search("anna")
    assert found[:2] == [exact, starts] and len(found) == 3


def test_case_and_accents_do_not_matter_either_way():
    zoe = LeadFactory(first_name="Zoë", last_name="Müller", email="zoe.mueller@x.example")
    jose = LeadFactory(first_name="José", last_name="Núñez", email="jn@y.example")

    assert search("zoe MULLER") == [zoe]
    assert search("MÜLLER") == [zoe]
    assert search("jose nunez") == [jose]
    assert search("Jôsé") == [jose]
    assert search("zoe muller")[0] == zoe  # and it is an exact full-name match


def test_email_fragments_and_phone_numbers_are_found():
    lead = LeadFactory(email="anna.lee.42@one.example", phone="+1 555 010 7788", first_name="Anna", last_name="Lee")
    LeadFactory(email="bob@two.example", phone="+44 20 7946 0000", first_name="Bob", last_name="Stone")

    assert search("lee.42@one") == [lead]
    assert search("ONE.EXAMPLE") == [lead]
    assert search("010 7788") == [lead]


def test_short_words_match_the_start_of_a_word_only():
    li = LeadFactory(first_name="Li", last_name="Wei", email="wei@x.example", company=None)
    lind = LeadFactory(first_name="Maya", last_name="Lindqvist", email="maya@y.example", company=None)
    LeadFactory(first_name="Emilia", last_name="Rossi", email="emilia@z.example", company=None)  # "li" inside a word

    assert set(search("li")) == {li, lind}
    assert search("li wei") == [li]


def test_a_company_word_shared_by_many_companies_still_matches():
    ada = LeadFactory(first_name="Ada", company=CompanyFactory(name="Engines Labs"))
    bob = LeadFactory(first_name="Bob", company=CompanyFactory(name="Poems Labs"))
    LeadFactory(first_name="Cy", company=CompanyFactory(name="Navy"))

    assert set(search("labs")) == {ada, bob}
    assert search("labs ada") == [ada]


def test_a_lead_without_email_is_found_by_its_name_and_phone():
    lead = LeadFactory(email=None, first_name="Nadia", last_name="Okafor", phone="+234 80 1234 5678", company=None)

    assert search("nadia okafor") == [lead]
    assert search("1234 5678") == [lead]
    assert search("nadia")[0] == lead


def test_a_lead_is_found_by_its_external_ids():
    from leadhub.models import LeadExternalId
    from leadhub.search import refresh_search_text

    lead = LeadFactory(first_name="Ivo", last_name="Kral")
    LeadExternalId.objects.create(lead=lead, source="crm", external_id="CRM-00412")
    refresh_search_text([lead.pk])  # whoever writes external ids refreshes the text

    assert search("crm-00412") == [lead]
    assert search("ivo 00412") == [lead]


def test_changed_names_emails_and_company_names_are_searched_as_they_are_now():
    from leadhub import services

    lead, _ = services.upsert_lead(email="old.name@acme.example", first_name="Olga", company={"name": "Acme Rockets"})
    assert search("olga rockets") == [lead]

    services.upsert_lead(email="old.name@acme.example", first_name="Helga")
    services.upsert_lead(email="someone.else@acme.example", company={"name": "Acme Balloons"})  # renames the company

    assert search("olga") == []
    assert search("helga balloons") == [lead]
    assert search("rockets") == []


def test_scoring_does_not_write_the_search_text():
    from leadhub.models import LeadSearch

    lead = LeadFactory(first_name="Pia", last_name="Holm")
    before = LeadSearch.objects.get(lead=lead).document
    Lead.objects.filter(pk=lead.pk).update(total_score=88, grade="A", first_name="Changed behind its back")

    assert LeadSearch.objects.get(lead=lead).document == before
    assert search("pia holm") == [Lead.objects.get(pk=lead.pk)]


def test_wildcards_in_the_search_are_plain_characters():
    LeadFactory(first_name="Ann", last_name="Percent", email="ann@x.example")
    assert search("%") == [] and search("a_n") == []


@pytest.mark.postgres
def test_the_database_folds_text_as_python_does():
    from django.db import connection

    from leadhub.models import LeadExternalId, LeadSearch
    from leadhub.search import FOLD_FROM, fold, full_name, refresh_search_text, search_document

    sample = FOLD_FROM + FOLD_FROM.upper() + " Zoë MÜLLER, José Núñez; ŁÓDŹ"
    with connection.cursor() as cursor:
        cursor.execute("SELECT leadhub_fold(%s)", [sample])
        assert cursor.fetchone() == (fold(sample),)
    lead = LeadFactory(first_name="Zoë", last_name="Müller", email=None, phone="+1 555", company=CompanyFactory(name="Łódź AG"))
    LeadExternalId.objects.create(lead=lead, source="crm", external_id="ÄB-1")
    refresh_search_text([lead.pk])
    row = LeadSearch.objects.get(lead=lead)
    assert row.document == search_document("Zoë", "Müller", None, "+1 555", "Łódź AG", ["ÄB-1"])
    assert (row.name, row.email) == (full_name("Zoë", "Müller"), "")


@pytest.mark.postgres
def test_search_reads_the_trigram_index_of_the_search_table():
    from django.db import connection

    LeadFactory.create_batch(3)
    found = LeadFilter({"q": "garcia summit"}, queryset=Lead.objects.all())
    assert found.is_valid()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # on 3 rows any plan is cheap: keep bitmap scans only
        sql, params = found.qs.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "leadsearch_document_trgm" in plan


def test_the_admin_lead_search_is_the_same_search(admin_client):
    LeadFactory(first_name="Annabel", last_name="Leeds", email="annabel@x.example")
    exact = LeadFactory(first_name="Anna", last_name="Lee", email="anna@y.example")
    LeadFactory(first_name="Anna", last_name="Stone", email="stone@z.example")

    response = admin_client.get("/admin/leadhub/lead/", {"q": "ANNA  lée"})
    shown = list(response.context["cl"].result_list)
    assert shown[0] == exact and len(shown) == 2
