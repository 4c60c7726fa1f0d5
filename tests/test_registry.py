import pytest
from django.core.exceptions import ImproperlyConfigured

import django_durable
from django_durable.exceptions import UnknownActivity, UnknownWorkflow
from django_durable.registry import Registry, register
from django_durable.retry import RetryPolicy


def test_the_contract_example_is_auto_discovered():
    assert register.get_workflow("onboard_user").fn.__module__ == "tests.testapp.durable_workflows"
    assert register.get_activity("send_email").retry == RetryPolicy()
    assert django_durable.register is register


def test_name_defaults_to_function_name_and_the_function_is_accepted_as_name():
    reg = Registry()

    @reg.workflow(name="custom")
    def my_flow(ctx):
        return 1

    @reg.activity
    def act():
        return 2

    assert reg.get_workflow(my_flow).name == "custom"
    assert reg.get_workflow("custom").fn is my_flow
    assert reg.get_activity(act).name == "act"


def test_two_registrations_of_one_name_name_both_modules():
    reg = Registry()
    reg.workflow(name="dup")(register.get_workflow("add").fn)
    with pytest.raises(ImproperlyConfigured) as info:
        reg.workflow(name="dup")(register.get_workflow("steps").fn)
    message = str(info.value)
    assert "tests.testapp.durable_workflows.add" in message
    assert "tests.testapp.durable_workflows.steps" in message


def test_registering_the_same_function_again_is_harmless():
    reg = Registry()
    fn = register.get_workflow("add").fn
    reg.workflow()(fn)
    reg.workflow()(fn)
    assert reg.get_workflow("add").fn is fn


@pytest.mark.parametrize(
    "decorate",
    [
        lambda reg: reg.workflow(name=""),
        lambda reg: reg.workflow(timeout=-1),
        lambda reg: reg.activity(timeout="soon"),
        lambda reg: reg.activity(retry={"max_attempts": 3}),
    ],
)
def test_bad_options_are_refused_when_the_decorator_runs(decorate):
    with pytest.raises(ImproperlyConfigured):
        decorate(Registry())


def test_async_workflows_are_refused_and_async_activities_accepted():
    async def flow(ctx):
        return 1

    with pytest.raises(ImproperlyConfigured, match="a workflow is a plain function"):
        Registry().workflow()(flow)

    async def fetch(url):
        return url

    registry = Registry()
    registry.activity()(fetch)
    assert registry.get_activity("fetch").fn is fetch


def test_unknown_names_raise_clear_errors():
    with pytest.raises(UnknownWorkflow, match="unknown workflow 'nope'"):
        register.get_workflow("nope")
    with pytest.raises(UnknownActivity, match="unknown activity 'nope'"):
        register.get_activity("nope")
