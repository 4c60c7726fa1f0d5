import django_durable


def test_public_names_are_pinned():
    assert django_durable.__all__ == [
        "RetryPolicy",
        "cancel_workflow",
        "fork_workflow",
        "get_event",
        "get_workflow",
        "inspect_workflow",
        "list_workers",
        "prune_workflows",
        "register",
        "retry_workflow",
        "run_workflow",
        "signal_workflow",
        "start_workflow",
        "wait_workflow",
        "workflow_events",
    ]
    for name in django_durable.__all__:
        assert getattr(django_durable, name) is not None
