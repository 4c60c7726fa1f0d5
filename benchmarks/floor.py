"""The floor: one committed single-row INSERT of about 100 bytes, through the raw driver.

    python -m benchmarks.floor sqlite-full|sqlite-normal|postgres N

SQLite: a fresh file in WAL mode with ``synchronous`` FULL or NORMAL, autocommit (each INSERT
its own transaction). PostgreSQL: psycopg over loopback TCP, autocommit. Prints µs/commit.
"""

import os
import sqlite3
import sys
import tempfile
import time

from benchmarks.common import emit

PAYLOAD = "x" * 100


def sqlite_floor(synchronous: str, n: int) -> float:
    with tempfile.TemporaryDirectory(prefix="durable-bench-floor-") as tmp:
        db = sqlite3.connect(os.path.join(tmp, "floor.sqlite3"), isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        db.execute("CREATE TABLE floor (id integer primary key, data varchar(100))")
        started = time.perf_counter()
        for i in range(n):
            db.execute("INSERT INTO floor (id, data) VALUES (?, ?)", (i, PAYLOAD))
        elapsed = time.perf_counter() - started
        db.close()
    return elapsed / n * 1e6


def postgres_floor(url: str, n: int) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS bench_floor")
        db.execute("CREATE TABLE bench_floor (id integer primary key, data varchar(100))")
        started = time.perf_counter()
        for i in range(n):
            db.execute("INSERT INTO bench_floor (id, data) VALUES (%s, %s)", (i, PAYLOAD))
        elapsed = time.perf_counter() - started
        db.execute("DROP TABLE bench_floor")
    return elapsed / n * 1e6


def main() -> None:
    mode, n = sys.argv[1], int(sys.argv[2])
    if mode == "postgres":
        value = postgres_floor(os.environ["DATABASE_URL"], n)
    else:
        value = sqlite_floor({"sqlite-full": "FULL", "sqlite-normal": "NORMAL"}[mode], n)
    emit(value=value)


if __name__ == "__main__":
    main()
