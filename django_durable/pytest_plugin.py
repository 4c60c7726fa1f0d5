"""The ``durable`` pytest fixture, registered through the ``pytest11`` entry point.

Nothing here imports Django at collection time: a project without pytest-django, or a run
that never asks for the fixture, is not affected.
"""

from __future__ import annotations

import pytest


class DurableHarness:
    """What the ``durable`` fixture gives a test: the harness's functions, in one place."""

    def run_until_idle(self, **options):
        from .testing import run_until_idle

        return run_until_idle(**options)

    def override_activity(self, name_or_fn, fn):
        from .testing import override_activity

        return override_activity(name_or_fn, fn)


@pytest.fixture
def durable():
    """Run workflows inline in a test; the engine's clock is reset when the test ends.

    Use it with pytest-django's ``db`` (or ``transactional_db``) fixture or marker.
    """
    yield DurableHarness()
    from .testing import reset_clock

    reset_clock()
