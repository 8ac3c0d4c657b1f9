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
    ada = LeadFactory(first_name="Ada", last_name="Lovelace", email="ada@engines.example", company=CompanyFactory(name="Engines Ltd"))
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
