"""The admin: useful to support staff, read-only, escaped, cancel only with permission."""

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from django_durable import get_workflow, signal_workflow, start_workflow
from tests.conftest import run_burst

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "admin:django_durable_workflowexecution_changelist"


def staff(client, *perms):
    user = User.objects.create_user("support", password="pw", is_staff=True)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return user


def test_changelist_filters_and_search(client):
    staff(client, "view_workflowexecution")
    first = start_workflow("onboard_user", user_id=1)
    start_workflow("add", a=1, b=2)
    run_burst()
    page = client.get(reverse(CHANGELIST), {"status__exact": "SLEEPING"})
    assert page.status_code == 200
    assert first in page.content.decode()
    assert page.context["cl"].result_count == 1
    page = client.get(reverse(CHANGELIST), {"q": first})
    assert page.context["cl"].result_count == 1


def test_execution_page_shows_decoded_steps_and_escapes_user_data(client):
    staff(client, "view_workflowexecution", "view_stepresult", "view_timer", "view_signal")
    eid = start_workflow("approval")
    run_burst()
    signal_workflow(eid, "approve", "<script>alert(1)</script>")
    run_burst()
    assert get_workflow(eid).status == "COMPLETED"
    page = client.get(reverse("admin:django_durable_workflowexecution_change", args=[eid]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "ctx.wait_signal:approve:1" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_cancel_action_needs_the_change_permission(client):
    eid = start_workflow("onboard_user", user_id=1)
    run_burst()
    user = staff(client, "view_workflowexecution")
    data = {"action": "cancel_executions", "_selected_action": [eid]}
    client.post(reverse(CHANGELIST), data)
    assert get_workflow(eid).status == "SLEEPING"
    user.user_permissions.add(Permission.objects.get(codename="change_workflowexecution"))
    client.force_login(User.objects.get(pk=user.pk))
    response = client.post(reverse(CHANGELIST), data)
    assert response.status_code == 302
    assert get_workflow(eid).status == "CANCELED"


def test_nothing_can_be_added_edited_or_deleted(client):
    user = staff(client)
    user.is_superuser = True
    user.save()
    eid = start_workflow("add", a=1, b=2)
    assert client.get(reverse("admin:django_durable_workflowexecution_add")).status_code == 403
    url = reverse("admin:django_durable_workflowexecution_change", args=[eid])
    client.post(url, {"workflow_name": "other"})
    assert get_workflow(eid).workflow == "add"
    assert (
        client.get(reverse("admin:django_durable_workflowexecution_delete", args=[eid])).status_code
        == 403
    )
