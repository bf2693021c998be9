"""The durable turn queue: accepted messages, idempotency keys, per-thread order, restart recovery.

A message is recorded (committed) before it is acknowledged; a worker claims the oldest queued turn
of a thread only when no other turn of that thread is running, so turns of one thread run one at a
time in arrival order while different threads run concurrently. A turn left ``running`` by a process
that died is queued again by :meth:`TurnQueue.recover` and answered once (the graph skips a turn its
checkpoint already holds; see :mod:`agent.serve.runner`).

:class:`TurnQueue` is the small interface; :class:`SqliteTurnQueue` keeps it in the same SQLite file
as the conversation checkpoints (the embedded default, one process).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

TurnStatus = Literal["queued", "running", "done", "failed"]
DeliveryStatus = Literal["pending", "sent", "failed"]

#: Idempotency keys (and the turns they name) are kept at least this long (Slack retries for 1 h,
#: Telegram for 24 h, WhatsApp for up to 7 days).
KEY_TTL_SECONDS = 7 * 24 * 3600


class IdempotencyConflictError(Exception):
    """An idempotency key was reused with a different request body (IETF idempotency-key draft: 422)."""


class ThreadOwnerError(Exception):
    """A thread id already belongs to another user."""


class ThreadBusyError(Exception):
    """A thread has a turn running or queued and the busy policy is ``reject`` (or its queue is full)."""

    def __init__(self, message: str, full: bool = False) -> None:
        super().__init__(message)
        self.full = full


@dataclass
class TurnRecord:
    """One accepted message and, once run, its result.

    Attributes:
        id: Turn id (``turn-<hex>``), unique across threads.
        thread_id: Conversation the turn belongs to.
        user_id: Whose preferences the turn reads and writes.
        seq: Arrival order (monotonic within the queue).
        request: What was sent: ``text``, ``images`` (media references), ``source``.
        status: ``queued`` -> ``running`` -> ``done`` | ``failed``.
        idempotency_key: The client's key (or platform message id), unique per thread; may be empty.
        result: The response payload once ``done``; ``{"code", "message"}`` once ``failed``.
        attempts: How many times a worker started it (more than 1 after a crash recovery).
    """

    id: str
    thread_id: str
    user_id: str
    seq: int
    request: dict[str, Any]
    status: TurnStatus
    idempotency_key: str = ""
    request_hash: str = ""
    result: dict[str, Any] | None = None
    attempts: int = 0
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Whether the turn has a final outcome."""
        return self.status in ("done", "failed")


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the queue's database cannot be reached right now (try again later)."""
    if isinstance(exc, sqlite3.OperationalError):
        return True
    module = type(exc).__module__
    return module.startswith(("psycopg", "psycopg_pool"))


def request_hash(request: dict[str, Any]) -> str:
    """Return a stable hash of a turn request (to tell a retry from a key reused for another message)."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def check_replay(found: TurnRecord, thread_id: str, key: str, rhash: str) -> None:
    """Refuse an idempotency key found again with another request body."""
    if found.request_hash != rhash:
        raise IdempotencyConflictError(f"idempotency key {key!r} was already used on thread {thread_id!r} for a "
                                       "different message; use a new key for a new message")


def check_admission(thread_id: str, user_id: str, owner: str | None, pending: int, busy_policy: str,
                    max_pending: int, shared: bool) -> None:
    """Apply the thread's rules to a new message (owner, busy policy, queue bound); raise when refused."""
    if owner is not None and owner != user_id and not shared:
        raise ThreadOwnerError(f"thread {thread_id!r} belongs to another user; start a new thread id for this user")
    if pending and busy_policy == "reject":
        raise ThreadBusyError(f"thread {thread_id!r} is still answering an earlier message; wait for it and send "
                              "again")
    if max_pending and pending >= max_pending:
        raise ThreadBusyError(f"thread {thread_id!r} already has {pending} messages waiting; wait for the answers "
                              "and send again", full=True)


def new_turn_id() -> str:
    """Return a fresh turn id."""
    return "turn-" + uuid.uuid4().hex[:16]


class TurnQueue(ABC):
    """Where accepted turns, their idempotency keys and results live (durable, shared by all channels)."""

    @abstractmethod
    def enqueue(self, thread_id: str, user_id: str, request: dict[str, Any], idempotency_key: str = "",
                busy_policy: str = "enqueue", max_pending: int = 0, shared: bool = False,
                event_id: str = "") -> tuple[TurnRecord, bool]:
        """Record a turn, or find the one an idempotency key already names.

        ``event_id`` is a platform's event id, unique across threads (a redelivery found after ``/new``
        moved the chat to a new thread is still the same event).

        ``shared`` threads (a group chat on a messaging platform) take turns from several users; other
        threads belong to the user of their first turn.

        Returns:
            ``(record, created)``: ``created`` is False when the key was seen before (the earlier record).

        Raises:
            IdempotencyConflictError: the key was used for a different request on this thread.
            ThreadOwnerError: the thread belongs to another user.
            ThreadBusyError: the policy is ``reject`` and a turn is pending, or ``max_pending`` is reached.
        """

    @abstractmethod
    def claim_next(self, owner: str) -> TurnRecord | None:
        """Mark the oldest runnable turn ``running`` and return it (none: ``None``).

        A turn is runnable when it is the earliest unfinished turn of its thread, none of its thread's
        turns is running, and no earlier reply of its thread is still being sent to a platform (so a
        chat's replies arrive in order).
        """

    @abstractmethod
    def finish(self, turn_id: str, status: TurnStatus, result: dict[str, Any], owner: str = "") -> None:
        """Record a turn's outcome (``done`` with the response, or ``failed`` with the error).

        With ``owner``, only while that worker still holds the turn (a process whose lease ran out and
        was taken over records nothing).
        """

    @abstractmethod
    def get(self, turn_id: str) -> TurnRecord | None:
        """Return a turn by id."""

    @abstractmethod
    def thread_turns(self, thread_id: str) -> list[TurnRecord]:
        """Return a thread's turns in arrival order."""

    @abstractmethod
    def thread_owner(self, thread_id: str) -> str | None:
        """Return the user a thread belongs to, or ``None`` for an unknown thread."""

    @abstractmethod
    def recover(self) -> int:
        """Queue again the turns a dead process left ``running``; return how many."""

    @abstractmethod
    def purge(self, older_than_s: float = KEY_TTL_SECONDS) -> int:
        """Delete finished turns (and their keys) older than ``older_than_s``; return how many."""

    @abstractmethod
    def set_delivery(self, turn_id: str, status: DeliveryStatus, error: str = "") -> None:
        """Record the delivery of a turn's reply to a messaging platform (``pending``, ``sent``, ``failed``)."""

    @abstractmethod
    def delivery(self, turn_id: str) -> tuple[DeliveryStatus, int, str] | None:
        """Return ``(status, attempts, error)`` of a turn's delivery, or ``None`` when it has none."""

    @abstractmethod
    def pending_deliveries(self) -> list[TurnRecord]:
        """Return finished turns whose reply still has to be sent (after a restart)."""

    @abstractmethod
    def generation(self, base: str) -> int:
        """Return how many times a channel conversation was restarted (``/new``); 0 at first."""

    @abstractmethod
    def bump_generation(self, base: str) -> int:
        """Start a new conversation for a channel chat; return the new generation."""

    @abstractmethod
    def remember_media(self, sha: str, path: str) -> None:
        """Record that ``/v1/media/<sha>.png`` serves the file at ``path``."""

    @abstractmethod
    def media_path(self, sha: str) -> str | None:
        """Return the file recorded for a media hash, or ``None``."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the database cannot be reached."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def migrate(self) -> int:
        """Create or update the queue's tables; return the schema version (SQLite: created on open)."""
        return 1


_SCHEMA = """
CREATE TABLE IF NOT EXISTS fm3_turns (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    idempotency_key TEXT,
    request_hash TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS fm3_turns_key ON fm3_turns(thread_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS fm3_turns_pending ON fm3_turns(status, thread_id, seq);
CREATE TABLE IF NOT EXISTS fm3_threads (
    thread_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fm3_deliveries (
    turn_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fm3_thread_generations (
    base TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fm3_events (
    event_id TEXT PRIMARY KEY,
    turn_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fm3_media (
    sha TEXT PRIMARY KEY,
    path TEXT NOT NULL
);
"""

COLUMNS = ("seq, id, thread_id, user_id, idempotency_key, request_hash, request, status, result, attempts, "
            "created_at, started_at, finished_at")
#: The same columns of ``fm3_turns`` aliased as ``t`` (for joins); shared with the PostgreSQL queue.
T_COLUMNS = ", ".join("t." + c.strip() for c in COLUMNS.split(","))


class SqliteTurnQueue(TurnQueue):
    """The turn queue in a SQLite file (WAL; committed before a message is acknowledged).

    One process: a process-wide lock serialises writers. The file is the checkpoints' file by
    default, so a thread's messages, keys and checkpoints live and are backed up together.
    """

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)

    def _row(self, row: tuple[Any, ...] | None) -> TurnRecord | None:
        if row is None:
            return None
        (seq, tid, thread, user, key, rhash, request, status, result, attempts, created, started, finished) = row
        return TurnRecord(id=tid, thread_id=thread, user_id=user, seq=seq, request=json.loads(request),
                          status=status, idempotency_key=key or "", request_hash=rhash,
                          result=json.loads(result) if result else None, attempts=attempts, created_at=created,
                          started_at=started, finished_at=finished)

    def enqueue(self, thread_id: str, user_id: str, request: dict[str, Any], idempotency_key: str = "",
                busy_policy: str = "enqueue", max_pending: int = 0, shared: bool = False,
                event_id: str = "") -> tuple[TurnRecord, bool]:
        """Record a turn (see :meth:`TurnQueue.enqueue`)."""
        rhash = request_hash({"user_id": user_id, **request})
        now = time.time()
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                if event_id:
                    row = cur.execute(f"SELECT {T_COLUMNS} FROM "
                                      "fm3_events e JOIN fm3_turns t ON t.id = e.turn_id WHERE e.event_id=?",
                                      (event_id,)).fetchone()
                    if row is not None:
                        cur.execute("COMMIT")
                        seen = self._row(row)
                        assert seen is not None
                        return seen, False
                if idempotency_key:
                    row = cur.execute(f"SELECT {COLUMNS} FROM fm3_turns WHERE thread_id=? AND idempotency_key=?",
                                      (thread_id, idempotency_key)).fetchone()
                    if row is not None:
                        found = self._row(row)
                        assert found is not None
                        check_replay(found, thread_id, idempotency_key, rhash)
                        cur.execute("COMMIT")
                        return found, False
                owner = cur.execute("SELECT user_id FROM fm3_threads WHERE thread_id=?", (thread_id,)).fetchone()
                pending = cur.execute("SELECT COUNT(*) FROM fm3_turns WHERE thread_id=? AND status IN "
                                      "('queued','running')", (thread_id,)).fetchone()[0]
                check_admission(thread_id, user_id, owner[0] if owner else None, pending, busy_policy, max_pending,
                                shared)
                if owner is None:
                    cur.execute("INSERT INTO fm3_threads(thread_id, user_id, created_at) VALUES (?,?,?)",
                                (thread_id, user_id, now))
                turn_id = new_turn_id()
                cur.execute(
                    "INSERT INTO fm3_turns(id, thread_id, user_id, idempotency_key, request_hash, request, status, "
                    "created_at) VALUES (?,?,?,?,?,?, 'queued', ?)",
                    (turn_id, thread_id, user_id, idempotency_key or None, rhash,
                     json.dumps(request, ensure_ascii=False), now))
                if event_id:
                    cur.execute("INSERT INTO fm3_events(event_id, turn_id, created_at) VALUES (?,?,?)",
                                (event_id, turn_id, now))
                row = cur.execute(f"SELECT {COLUMNS} FROM fm3_turns WHERE id=?", (turn_id,)).fetchone()
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        rec = self._row(row)
        assert rec is not None
        return rec, True

    def claim_next(self, owner: str) -> TurnRecord | None:
        """Claim the oldest runnable turn (see :meth:`TurnQueue.claim_next`)."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                row = cur.execute(
                    f"SELECT {COLUMNS} FROM fm3_turns t WHERE t.status='queued' AND t.seq = "
                    "(SELECT MIN(p.seq) FROM fm3_turns p WHERE p.thread_id=t.thread_id AND "
                    "p.status IN ('queued','running')) AND NOT EXISTS (SELECT 1 FROM fm3_deliveries d JOIN fm3_turns x "
                    "ON x.id = d.turn_id WHERE x.thread_id = t.thread_id AND d.status = 'pending' AND "
                    "x.status IN ('done','failed')) "
                    "ORDER BY t.seq LIMIT 1").fetchone()
                if row is not None:
                    cur.execute("UPDATE fm3_turns SET status='running', attempts=attempts+1, owner=?, started_at=? "
                                "WHERE seq=?", (owner, time.time(), row[0]))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        rec = self._row(row)
        if rec is not None:
            rec.status = "running"
            rec.attempts += 1
        return rec

    def finish(self, turn_id: str, status: TurnStatus, result: dict[str, Any], owner: str = "") -> None:
        """Record a turn's outcome (one process: ``owner`` needs no check)."""
        with self._lock:
            self._conn.execute("UPDATE fm3_turns SET status=?, result=?, finished_at=? WHERE id=?",
                               (status, json.dumps(result, ensure_ascii=False, default=str), time.time(), turn_id))

    def get(self, turn_id: str) -> TurnRecord | None:
        """Return a turn by id."""
        with self._lock:
            row = self._conn.execute(f"SELECT {COLUMNS} FROM fm3_turns WHERE id=?", (turn_id,)).fetchone()
        return self._row(row)

    def thread_turns(self, thread_id: str) -> list[TurnRecord]:
        """Return a thread's turns in arrival order."""
        with self._lock:
            rows = self._conn.execute(f"SELECT {COLUMNS} FROM fm3_turns WHERE thread_id=? ORDER BY seq",
                                      (thread_id,)).fetchall()
        return [r for r in (self._row(row) for row in rows) if r is not None]

    def thread_owner(self, thread_id: str) -> str | None:
        """Return the user a thread belongs to."""
        with self._lock:
            row = self._conn.execute("SELECT user_id FROM fm3_threads WHERE thread_id=?", (thread_id,)).fetchone()
        return row[0] if row else None

    def recover(self) -> int:
        """Queue again every turn left ``running`` (one process: nobody else can be running it)."""
        with self._lock:
            cur = self._conn.execute("UPDATE fm3_turns SET status='queued', owner=NULL WHERE status='running'")
            return cur.rowcount

    def purge(self, older_than_s: float = KEY_TTL_SECONDS) -> int:
        """Delete finished turns older than ``older_than_s`` seconds."""
        cutoff = time.time() - older_than_s
        with self._lock:
            cur = self._conn.execute("DELETE FROM fm3_turns WHERE status IN ('done','failed') AND finished_at < ?",
                                     (cutoff,))
            self._conn.execute("DELETE FROM fm3_deliveries WHERE status != 'pending' AND updated_at < ?", (cutoff,))
            self._conn.execute("DELETE FROM fm3_events WHERE created_at < ?", (cutoff,))
            return cur.rowcount

    def set_delivery(self, turn_id: str, status: DeliveryStatus, error: str = "") -> None:
        """Record a reply's delivery state (attempts count the sends tried)."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO fm3_deliveries(turn_id, status, attempts, error, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(turn_id) DO UPDATE SET status=excluded.status, error=excluded.error, "
                "updated_at=excluded.updated_at, attempts=fm3_deliveries.attempts + (excluded.status != 'pending')",
                (turn_id, status, 0 if status == "pending" else 1, error or None, time.time()))

    def delivery(self, turn_id: str) -> tuple[DeliveryStatus, int, str] | None:
        """Return a turn's delivery state."""
        with self._lock:
            row = self._conn.execute("SELECT status, attempts, error FROM fm3_deliveries WHERE turn_id=?",
                                     (turn_id,)).fetchone()
        return (row[0], row[1], row[2] or "") if row else None

    def pending_deliveries(self) -> list[TurnRecord]:
        """Return finished turns whose reply was not sent yet."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {T_COLUMNS} FROM fm3_turns t JOIN "
                "fm3_deliveries d ON d.turn_id = t.id WHERE d.status='pending' AND t.status IN ('done','failed') "
                "ORDER BY t.seq").fetchall()
        return [r for r in (self._row(row) for row in rows) if r is not None]

    def generation(self, base: str) -> int:
        """Return a channel chat's conversation generation."""
        with self._lock:
            row = self._conn.execute("SELECT generation FROM fm3_thread_generations WHERE base=?",
                                     (base,)).fetchone()
        return int(row[0]) if row else 0

    def bump_generation(self, base: str) -> int:
        """Start a new conversation for a channel chat."""
        with self._lock:
            self._conn.execute("INSERT INTO fm3_thread_generations(base, generation) VALUES (?, 1) ON CONFLICT(base) "
                               "DO UPDATE SET generation = generation + 1", (base,))
            row = self._conn.execute("SELECT generation FROM fm3_thread_generations WHERE base=?",
                                     (base,)).fetchone()
        return int(row[0])

    def remember_media(self, sha: str, path: str) -> None:
        """Record the file a media hash serves."""
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO fm3_media(sha, path) VALUES (?, ?)", (sha, path))

    def media_path(self, sha: str) -> str | None:
        """Return the file recorded for a media hash."""
        with self._lock:
            row = self._conn.execute("SELECT path FROM fm3_media WHERE sha=?", (sha,)).fetchone()
        return row[0] if row else None

    def ping(self) -> None:
        """Run a trivial query."""
        with self._lock:
            self._conn.execute("SELECT 1").fetchone()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
