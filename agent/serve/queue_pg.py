"""The turn queue in PostgreSQL: several service processes share threads, keys, the queue and leases.

Same rules as :class:`~agent.serve.queue.SqliteTurnQueue`, across processes:

- Every write for a thread takes a transaction-scoped advisory lock keyed by the thread
  (``pg_advisory_xact_lock``), so accepting messages, idempotency keys and thread ownership are
  decided one at a time per thread, in arrival order, whichever process receives them.
- A worker claims the oldest runnable turn with ``FOR UPDATE SKIP LOCKED``: a turn of a thread that
  has a turn running (in any process) is not runnable, so one thread's turns never overlap.
- A claimed turn has a lease (``lease_seconds``) that its process renews while it runs; a turn whose
  lease ran out (its process died) is queued again by :meth:`PostgresTurnQueue.recover`, which every
  process calls periodically, and is answered once (the graph skips a turn its checkpoint already
  answered). A process that lost its lease cannot record an outcome over the new owner's.
- ``NOTIFY fm3_turns`` wakes the other processes when a turn is queued or finished; polling once a
  second is the fallback.

Tables are created by :func:`migrate` (``fashionm3 db migrate``, also run on start), versioned in
``fm3_schema_version``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.serve.queue import (
    COLUMNS,
    KEY_TTL_SECONDS,
    T_COLUMNS,
    DeliveryStatus,
    TurnQueue,
    TurnRecord,
    TurnStatus,
    check_admission,
    check_replay,
    new_turn_id,
    request_hash,
)

log = logging.getLogger(__name__)

CHANNEL = "fm3_turns"
MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS fm3_turns (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        thread_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        idempotency_key TEXT,
        request_hash TEXT NOT NULL,
        request JSONB NOT NULL,
        status TEXT NOT NULL,
        result JSONB,
        attempts INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        lease_until DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION
    );
    CREATE UNIQUE INDEX IF NOT EXISTS fm3_turns_key ON fm3_turns(thread_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX IF NOT EXISTS fm3_turns_pending ON fm3_turns(status, thread_id, seq);
    CREATE TABLE IF NOT EXISTS fm3_threads (
        thread_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);
    CREATE TABLE IF NOT EXISTS fm3_deliveries (
        turn_id TEXT PRIMARY KEY, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
        updated_at DOUBLE PRECISION NOT NULL);
    CREATE TABLE IF NOT EXISTS fm3_thread_generations (base TEXT PRIMARY KEY, generation INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS fm3_events (
        event_id TEXT PRIMARY KEY, turn_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);
    CREATE TABLE IF NOT EXISTS fm3_media (sha TEXT PRIMARY KEY, path TEXT NOT NULL);
    """,
]



def migrate(conn: Any) -> int:
    """Apply the queue's schema migrations not applied yet; return the schema version now."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('fm3_schema'))")
        conn.execute("CREATE TABLE IF NOT EXISTS fm3_schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM fm3_schema_version").fetchone()
        current = int(row[0] or 0)
        for version, sql in enumerate(MIGRATIONS, start=1):
            if version > current:
                conn.execute(sql)
                conn.execute("INSERT INTO fm3_schema_version(version) VALUES (%s)", (version,))
                current = version
    return current


def _row(row: tuple[Any, ...] | None) -> TurnRecord | None:
    if row is None:
        return None
    (seq, tid, thread, user, key, rhash, request, status, result, attempts, created, started, finished) = row
    return TurnRecord(id=tid, thread_id=thread, user_id=user, seq=seq, request=request, status=status,
                      idempotency_key=key or "", request_hash=rhash, result=result, attempts=attempts,
                      created_at=created, started_at=started, finished_at=finished)


class PostgresTurnQueue(TurnQueue):
    """The turn queue in PostgreSQL (a ``psycopg_pool.ConnectionPool``), shared by service processes.

    Args:
        url: A libpq connection string (``postgresql://user@host:port/db``).
        min_size: Connections the pool keeps open.
        max_size: Most connections the pool opens.
        lease_seconds: How long a claimed turn is held without a renewal before another process may
            take it over.
    """

    def __init__(self, url: str, min_size: int = 1, max_size: int = 10, lease_seconds: float = 30.0) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self.lease_seconds = lease_seconds
        self.pool = ConnectionPool(url, min_size=min_size, max_size=max_size, open=False,
                                   kwargs={"autocommit": True}, name="fm3-queue", timeout=10.0,
                                   check=ConnectionPool.check_connection)
        self.pool.open(wait=False)
        self._mine: set[str] = set()
        self._mine_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._migrated = False

    def migrate(self) -> int:
        """Create or update the tables; return the schema version."""
        with self.pool.connection() as conn:
            version = migrate(conn)
        self._migrated = True
        return version

    def _ensure(self) -> None:
        if not self._migrated:
            self.migrate()

    def _notify(self, conn: Any, what: str) -> None:
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, what))

    def enqueue(self, thread_id: str, user_id: str, request: dict[str, Any], idempotency_key: str = "",
                busy_policy: str = "enqueue", max_pending: int = 0, shared: bool = False,
                event_id: str = "") -> tuple[TurnRecord, bool]:
        """Record a turn (see :meth:`TurnQueue.enqueue`), serialised per thread across processes."""
        from psycopg.types.json import Jsonb

        self._ensure()
        rhash = request_hash({"user_id": user_id, **request})
        now = time.time()
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (thread_id,))
            if event_id:
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("event:" + event_id,))
                row = conn.execute(f"SELECT {T_COLUMNS} FROM fm3_events e JOIN fm3_turns t ON t.id = e.turn_id "
                                   "WHERE e.event_id = %s", (event_id,)).fetchone()
                if row is not None:
                    seen = _row(row)
                    assert seen is not None
                    return seen, False
            if idempotency_key:
                row = conn.execute(f"SELECT {COLUMNS} FROM fm3_turns WHERE thread_id=%s AND idempotency_key=%s",
                                   (thread_id, idempotency_key)).fetchone()
                if row is not None:
                    found = _row(row)
                    assert found is not None
                    check_replay(found, thread_id, idempotency_key, rhash)
                    return found, False
            owner = conn.execute("SELECT user_id FROM fm3_threads WHERE thread_id=%s", (thread_id,)).fetchone()
            counted = conn.execute("SELECT count(*) FROM fm3_turns WHERE thread_id=%s AND status IN "
                                   "('queued','running')", (thread_id,)).fetchone()
            check_admission(thread_id, user_id, str(owner[0]) if owner else None, int(counted[0]) if counted else 0,
                            busy_policy, max_pending, shared)
            if owner is None:
                conn.execute("INSERT INTO fm3_threads(thread_id, user_id, created_at) VALUES (%s,%s,%s)",
                             (thread_id, user_id, now))
            turn_id = new_turn_id()
            row = conn.execute(
                f"INSERT INTO fm3_turns(id, thread_id, user_id, idempotency_key, request_hash, request, status, "
                f"created_at) VALUES (%s,%s,%s,%s,%s,%s,'queued',%s) RETURNING {COLUMNS}",
                (turn_id, thread_id, user_id, idempotency_key or None, rhash, Jsonb(request), now)).fetchone()
            if event_id:
                conn.execute("INSERT INTO fm3_events(event_id, turn_id, created_at) VALUES (%s,%s,%s)",
                             (event_id, turn_id, now))
            self._notify(conn, "queued")
        rec = _row(row)
        assert rec is not None
        return rec, True

    def claim_next(self, owner: str) -> TurnRecord | None:
        """Claim the oldest runnable turn of any thread (``FOR UPDATE SKIP LOCKED``) with a lease."""
        self._ensure()
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                f"SELECT {COLUMNS} FROM fm3_turns t WHERE t.status='queued' AND t.seq = "
                "(SELECT min(p.seq) FROM fm3_turns p WHERE p.thread_id=t.thread_id AND p.status IN "
                "('queued','running')) AND NOT EXISTS (SELECT 1 FROM fm3_deliveries d JOIN fm3_turns x ON "
                "x.id = d.turn_id WHERE x.thread_id = t.thread_id AND d.status='pending' AND "
                "x.status IN ('done','failed')) "
                "ORDER BY t.seq LIMIT 1 FOR UPDATE SKIP LOCKED").fetchone()
            if row is None:
                return None
            now = time.time()
            conn.execute("UPDATE fm3_turns SET status='running', attempts=attempts+1, owner=%s, started_at=%s, "
                         "lease_until=%s WHERE seq=%s", (owner, now, now + self.lease_seconds, row[0]))
        rec = _row(row)
        assert rec is not None
        rec.status = "running"
        rec.attempts += 1
        rec.extra["owner"] = owner
        with self._mine_lock:
            self._mine.add(rec.id)
        return rec

    def finish(self, turn_id: str, status: TurnStatus, result: dict[str, Any], owner: str = "") -> None:
        """Record an outcome, unless another process took the turn over after this one's lease ran out."""
        from psycopg.types.json import Jsonb

        with self._mine_lock:
            self._mine.discard(turn_id)
        with self.pool.connection() as conn, conn.transaction():
            cur = conn.execute("UPDATE fm3_turns SET status=%s, result=%s, finished_at=%s, lease_until=NULL "
                               "WHERE id=%s AND status='running' AND (owner=%s OR %s='')",
                               (status, Jsonb(json.loads(json.dumps(result, default=str))), time.time(), turn_id,
                                owner, owner))
            if cur.rowcount == 0:
                log.warning("turn %s was not running any more (its lease ran out?); outcome not recorded", turn_id)
            self._notify(conn, f"done:{turn_id}")

    def get(self, turn_id: str) -> TurnRecord | None:
        """Return a turn by id."""
        with self.pool.connection() as conn:
            return _row(conn.execute(f"SELECT {COLUMNS} FROM fm3_turns WHERE id=%s", (turn_id,)).fetchone())

    def thread_turns(self, thread_id: str) -> list[TurnRecord]:
        """Return a thread's turns in arrival order."""
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM fm3_turns WHERE thread_id=%s ORDER BY seq",
                                (thread_id,)).fetchall()
        return [r for r in (_row(row) for row in rows) if r is not None]

    def thread_owner(self, thread_id: str) -> str | None:
        """Return the user a thread belongs to."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT user_id FROM fm3_threads WHERE thread_id=%s", (thread_id,)).fetchone()
        return str(row[0]) if row else None

    def recover(self) -> int:
        """Queue again the running turns whose lease ran out (their process died); return how many."""
        self._ensure()
        with self.pool.connection() as conn:
            cur = conn.execute("UPDATE fm3_turns SET status='queued', owner=NULL, lease_until=NULL "
                               "WHERE status='running' AND lease_until < %s", (time.time(),))
            if cur.rowcount:
                self._notify(conn, "queued")
            return int(cur.rowcount)

    def renew(self, owner: str) -> None:
        """Extend the leases of the turns this process is running."""
        with self._mine_lock:
            mine = list(self._mine)
        if not mine:
            return
        with self.pool.connection() as conn:
            conn.execute("UPDATE fm3_turns SET lease_until=%s WHERE id = ANY(%s) AND status='running' AND owner=%s",
                         (time.time() + self.lease_seconds, mine, owner))

    def purge(self, older_than_s: float = KEY_TTL_SECONDS) -> int:
        """Delete finished turns, sent deliveries and seen events older than ``older_than_s``."""
        self._ensure()
        cutoff = time.time() - older_than_s
        with self.pool.connection() as conn, conn.transaction():
            cur = conn.execute("DELETE FROM fm3_turns WHERE status IN ('done','failed') AND finished_at < %s",
                               (cutoff,))
            conn.execute("DELETE FROM fm3_deliveries WHERE status != 'pending' AND updated_at < %s", (cutoff,))
            conn.execute("DELETE FROM fm3_events WHERE created_at < %s", (cutoff,))
            return int(cur.rowcount)

    def set_delivery(self, turn_id: str, status: DeliveryStatus, error: str = "") -> None:
        """Record a reply's delivery state."""
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO fm3_deliveries(turn_id, status, attempts, error, updated_at) VALUES (%s,%s,%s,%s,%s) "
                "ON CONFLICT (turn_id) DO UPDATE SET status=excluded.status, error=excluded.error, "
                "updated_at=excluded.updated_at, attempts=fm3_deliveries.attempts + excluded.attempts",
                (turn_id, status, 0 if status == "pending" else 1, error or None, time.time()))
            if status != "pending":
                self._notify(conn, "queued")

    def delivery(self, turn_id: str) -> tuple[DeliveryStatus, int, str] | None:
        """Return a turn's delivery state."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT status, attempts, error FROM fm3_deliveries WHERE turn_id=%s",
                               (turn_id,)).fetchone()
        return (row[0], int(row[1]), row[2] or "") if row else None

    def pending_deliveries(self) -> list[TurnRecord]:
        """Return finished turns whose reply was not sent yet and that no live process is sending."""
        now = time.time()
        with self.pool.connection() as conn, conn.transaction():
            # claimed by touching updated_at, so two processes starting together do not both send it
            claimed = conn.execute(
                "UPDATE fm3_deliveries d SET updated_at=%s FROM fm3_turns t WHERE d.turn_id = t.id AND "
                "d.status='pending' AND t.status IN ('done','failed') AND d.updated_at < %s RETURNING d.turn_id",
                (now, now - self.lease_seconds)).fetchall()
            rows = conn.execute(f"SELECT {COLUMNS} FROM fm3_turns WHERE id = ANY(%s) ORDER BY seq",
                                ([r[0] for r in claimed],)).fetchall()
        return [r for r in (_row(row) for row in rows) if r is not None]

    def generation(self, base: str) -> int:
        """Return a channel chat's conversation generation."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT generation FROM fm3_thread_generations WHERE base=%s", (base,)).fetchone()
        return int(row[0]) if row else 0

    def bump_generation(self, base: str) -> int:
        """Start a new conversation for a channel chat."""
        with self.pool.connection() as conn:
            row = conn.execute("INSERT INTO fm3_thread_generations(base, generation) VALUES (%s, 1) ON CONFLICT "
                               "(base) DO UPDATE SET generation = fm3_thread_generations.generation + 1 "
                               "RETURNING generation", (base,)).fetchone()
        return int(row[0]) if row else 1

    def remember_media(self, sha: str, path: str) -> None:
        """Record the file a media hash serves."""
        with self.pool.connection() as conn:
            conn.execute("INSERT INTO fm3_media(sha, path) VALUES (%s,%s) ON CONFLICT (sha) DO UPDATE SET "
                         "path=excluded.path", (sha, path))

    def media_path(self, sha: str) -> str | None:
        """Return the file recorded for a media hash."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT path FROM fm3_media WHERE sha=%s", (sha,)).fetchone()
        return str(row[0]) if row else None

    def ping(self) -> None:
        """Run a trivial query (raises when the database is unreachable)."""
        with self.pool.connection(timeout=3.0) as conn:
            conn.execute("SELECT 1").fetchone()

    def start_background(self, owner: str, wake: Callable[[str], None]) -> None:
        """Renew this process's leases, recover dead processes' turns and listen for other processes' news.

        ``wake(payload)`` is called (from a background thread) on every notification.
        """
        def keep_leases() -> None:
            while not self._stop.wait(max(1.0, self.lease_seconds / 3)):
                try:
                    self.renew(owner)
                    if self.recover():
                        wake("recovered")
                except Exception as exc:  # the database is away: the next round tries again
                    log.warning("lease renewal failed: %s", exc)

        def listen() -> None:
            import psycopg

            while not self._stop.is_set():
                try:
                    with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                        conn.execute(f"LISTEN {CHANNEL}")
                        wake("reconnected")
                        while not self._stop.is_set():
                            for note in conn.notifies(timeout=1.0):
                                wake(note.payload)
                except Exception as exc:
                    log.warning("listening for turn notifications failed (%s); retrying", exc)
                    self._stop.wait(2.0)

        for target, name in ((keep_leases, "fm3-leases"), (listen, "fm3-listen")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        """Stop the background threads and close the pool."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self.pool.close()
