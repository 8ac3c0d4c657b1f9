import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission

from leadhub.auth_backends import ModelBackendOneQuery

pytestmark = pytest.mark.django_db


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)


def test_one_query_gives_the_same_permissions_as_djangos_backend(django_assert_num_queries, sdr, marketer, manager):
    direct = get_user_model().objects.create_user("direct")
    direct.user_permissions.add(Permission.objects.get(codename="view_lead"))
    direct.groups.add(Group.objects.create(name="Extra"))
    Group.objects.get(name="Extra").permissions.add(Permission.objects.get(codename="add_lead"))
    boss = get_user_model().objects.create_superuser("boss", password="x")
    retired = get_user_model().objects.create_user("retired", is_active=False)
    retired.user_permissions.add(Permission.objects.get(codename="view_lead"))
    for user in (sdr, marketer, manager, direct, boss, retired):
        expected = ModelBackend().get_all_permissions(fresh(user))
        user = fresh(user)
        with django_assert_num_queries(0 if not user.is_active else 1):
            assert ModelBackendOneQuery().get_all_permissions(user) == expected
    assert ModelBackendOneQuery().get_all_permissions(fresh(direct)) >= {"leadhub.view_lead", "leadhub.add_lead"}


def test_permission_checks_in_a_request_cost_one_query(client, sdr, django_assert_max_num_queries):
    client.force_login(sdr)
    user = fresh(sdr)
    with django_assert_max_num_queries(1):
        assert user.has_perm("handoff.view_handoff")
        assert user.has_perm("handoff.act_on_handoff")
        assert not user.has_perm("handoff.reassign_handoff")
