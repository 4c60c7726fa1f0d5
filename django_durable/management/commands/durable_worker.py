import logging
import signal
import sys

from django.core.management.base import CommandError

from django_durable.exceptions import UnknownQueue
from django_durable.management.base import DurableCommand
from django_durable.worker import Worker


class Command(DurableCommand):
    help = "Run workflow executions until stopped (SIGTERM or SIGINT stop it gracefully)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--threads",
            type=int,
            default=4,
            metavar="N",
            help="run up to N executions at once, one per thread (default 4)",
        )
        parser.add_argument(
            "--burst",
            action="store_true",
            help="exit once nothing is runnable and no timer is due (timers due later "
            "are left for the next worker)",
        )
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            metavar="NAME",
            help="serve only this queue (repeat for several; default: every queue); "
            "queues other than 'default' are declared in DURABLE_QUEUES",
        )

    def handle(self, *args, threads, burst, queues, verbosity, **options):
        if threads < 1:
            raise CommandError("--threads must be at least 1")
        try:
            worker = Worker(threads=threads, burst=burst, queues=queues)
        except UnknownQueue as exc:
            raise CommandError(str(exc)) from None
        _log_to(self.stdout, verbosity)

        def stop(signum, frame):
            worker.stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            worker.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _log_to(stream, verbosity: int) -> None:
    logger = logging.getLogger("django_durable")
    if logger.handlers or verbosity == 0:
        return
    handler = logging.StreamHandler(sys.stdout if stream is None else stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
    logger.propagate = False
