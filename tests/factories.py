import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from leadhub.choices import DefaultActivityKind, DefaultChannel, DefaultIndustry
from leadhub.models import Activity, Company, Lead
from leadhub.search import refresh_search_text

DEFAULT_PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@leadhub.example")
    password = factory.django.Password(DEFAULT_PASSWORD)


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ["domain"]

    domain = factory.Sequence(lambda n: f"company{n}.com")
    name = factory.Sequence(lambda n: f"Company {n}")
    industry = DefaultIndustry.SOFTWARE
    employee_count = 250
    annual_revenue = 40_000_000
    country = "US"


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead
        skip_postgeneration_save = True

    company = factory.SubFactory(CompanyFactory)
    email = factory.LazyAttributeSequence(lambda o, n: f"lead{n}@{o.company.domain if o.company else 'gmail.com'}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    title = "Marketing Manager"
    country = "US"
    source = DefaultChannel.INBOUND_FORM
    campaign = "website-demo-form"

    @factory.post_generation
    def search_text(obj, create, extracted, **kwargs):  # as every writer of a lead does (leadhub.search)
        if create:
            refresh_search_text([obj.pk])


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    lead = factory.SubFactory(LeadFactory)
    kind = DefaultActivityKind.PAGE_VIEW
    # Just now, on whatever day the clock shows: scoring's decay counts whole days, and an
    # activity "an hour ago" is yesterday's just after midnight (tests at fixed instants: tests/clock.py).
    occurred_at = factory.LazyFunction(timezone.now)
    properties = factory.LazyFunction(dict)
    source = "tests"
    external_id = factory.Sequence(lambda n: f"ext-{n}")
