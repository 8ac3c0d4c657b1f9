"""Transactional tests flush the database; the rows data migrations wrote must come back,
or whichever test runs next would find no role groups and no rejection reasons."""

import pytest
from django.contrib.auth.models import Group

from handoff.models import RejectionReason
from leadhub import roles


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_sees_the_seeded_roles():
    assert set(roles.ALL_ROLES) <= set(Group.objects.values_list("name", flat=True))


@pytest.mark.django_db(transaction=True)
def test_the_next_transactional_test_after_a_flush_sees_them_too():
    assert Group.objects.get(name=roles.SDR).permissions.filter(codename="view_lead").exists()
    assert RejectionReason.objects.filter(label="No budget", active=True).exists()


@pytest.mark.django_db
def test_an_ordinary_test_after_a_flush_sees_them_too():
    assert Group.objects.get(name=roles.INTEGRATION).permissions.filter(codename="add_activity").exists()
    assert RejectionReason.objects.count() >= 9
