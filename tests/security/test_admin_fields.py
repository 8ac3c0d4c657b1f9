"""The admin's lead form: owner and stage change only through the services, for every role;
company numbers are held to what the database keeps."""

import pytest
from django.contrib.auth import get_user_model

from leadhub.choices import Stage
from leadhub.models import Company, Lead
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@leadhub.example", "pw-root-123")


@pytest.fixture(params=["superuser", "marketer"])
def admin_user(request):
    return request.getfixturevalue(request.param)


def test_lead_change_form_shows_owner_and_stage_read_only(client, admin_user, sdr):
    lead = LeadFactory(owner=sdr, stage=Stage.MQL)
    client.force_login(admin_user)

    form = client.get(f"/admin/leadhub/lead/{lead.pk}/change/").context["adminform"].form

    assert "owner" not in form.fields
    assert "stage" not in form.fields
    assert "email" in form.fields


def test_posting_an_owner_or_stage_through_the_admin_changes_neither(client, admin_user, sdr, other_sdr):
    lead = LeadFactory(owner=sdr, stage=Stage.MQL, company=None, email="ada@gmail.com")
    client.force_login(admin_user)
    data = {
        "email": lead.email,
        "first_name": "Ada",
        "last_name": "L",
        "title": "",
        "phone": "",
        "country": "",
        "source": lead.source,
        "campaign": "",
        "owner": other_sdr.pk,
        "stage": Stage.SAL,
        "stage_changes-TOTAL_FORMS": "0",
        "stage_changes-INITIAL_FORMS": "0",
        # The lead's external ids and outcomes are inlines too.
        "external_ids-TOTAL_FORMS": "0",
        "external_ids-INITIAL_FORMS": "0",
        "outcomes-TOTAL_FORMS": "0",
        "outcomes-INITIAL_FORMS": "0",
    }

    response = client.post(f"/admin/leadhub/lead/{lead.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    lead.refresh_from_db()
    assert lead.first_name == "Ada"
    assert lead.owner == sdr
    assert lead.stage == Stage.MQL


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("annual_revenue", "99999999999999.99", "9999999999999.99"),
        ("employee_count", str(2**31), "2147483647"),
    ],
)
def test_company_numbers_beyond_the_column_are_a_form_error_naming_the_limit(client, superuser, field, value, limit):
    company = CompanyFactory(domain="acme.example")
    client.force_login(superuser)
    data = {
        "domain": "acme.example",
        "name": "Acme",
        "industry": "",
        "employee_count": "",
        "annual_revenue": "",
        "country": "US",
        "created_at_0": "2026-01-01",
        "created_at_1": "10:00:00",
        field: value,
    }

    response = client.post(f"/admin/leadhub/company/{company.pk}/change/", data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert limit in " ".join(errors[field])
    company.refresh_from_db()
    assert company.annual_revenue == Company.objects.get(pk=company.pk).annual_revenue
    assert getattr(company, field) != value
    assert Lead.objects.count() == 0
