"""Embeddings cached on disk by content hash, so reopening a file or editing one line embeds only what changed.

One SQLite file under the user cache folder (safe across processes), bounded in size: when it grows past the
limit the least recently used vectors go first. It also keeps the last few search results (the pairs of a whole
file, under a digest of its examples' content keys, the model and the threshold), so checking an unchanged file
again skips the search too.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..analysis.cache_files import user_cache

DEFAULT_MAX_BYTES = 512 * 1024 * 1024


def default_path() -> Path:
    return user_cache() / "embeddings.sqlite"


_ROW_OVERHEAD = 40  # bytes a row costs besides its vector (key, dim, time, page overhead), for the size bound


def _decode(rows: list[tuple[bytes, int, bytes]], dim: int | None) -> tuple[list[bytes], np.ndarray]:
    """float16 blobs to one float32 matrix. Rows of another size than the first (or than `dim`) are left out: a
    damaged row is embedded again."""
    if dim is None and rows:
        dim = rows[0][1]
    good = [(k, data) for k, d, data in rows if d == dim and len(data) == 2 * d]
    if not good or dim is None:
        return [], np.zeros((0, dim or 0), dtype=np.float32)
    blob = b"".join(data for _, data in good)
    matrix = np.frombuffer(blob, dtype=np.float16).reshape(len(good), dim).astype(np.float32)
    return [k for k, _ in good], matrix


def content_key(model_id: str, text: str) -> bytes:
    return hashlib.blake2b(f"{model_id}\0{text}".encode("utf-8", "surrogatepass"), digest_size=20).digest()


_WRITING: weakref.WeakSet[EmbeddingCache] = weakref.WeakSet()  # caches that started a writer thread


def settle_writers() -> None:
    """Before any fork of this process (the near-duplicate passes' children, check's workers), writes still running
    finish (the command line's whole-file pass lets a big file's vector writes run on into its search)."""
    for cache in list(_WRITING):
        cache._settle()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=settle_writers)  # the backstop: `forking.in_two` settles them first

REFRESH_SECONDS = 24 * 3600  # a read refreshes a vector's last use when it is older than this
RESULTS = 16  # search results kept (one per file checked lately)


class EmbeddingCache:
    def __init__(self, path: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path) if path else default_path()
        self.max_bytes = max_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A cache may lose its last writes on power loss (never its consistency): no sync per commit.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, dim INTEGER, data BLOB, used REAL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS results (key BLOB PRIMARY KEY, data BLOB, used REAL)")
        self._size: int | None = None  # bytes stored, counted once, then kept up to date by writes (an over-count)
        self._writer: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def get_result(self, key: bytes) -> bytes | None:
        """A search result stored under `key` (see `NearDuplicateDetector.pairs`), or None."""
        self._settle()  # this process reads what it wrote
        with self._lock:
            row = self._db.execute("SELECT data FROM results WHERE key = ?", (key,)).fetchone()
            if row is not None:
                self._db.execute("UPDATE results SET used = ? WHERE key = ?", (time.time(), key))
                self._db.commit()
        return None if row is None else bytes(row[0])

    def put_result(self, key: bytes, data: bytes) -> None:
        """Keep a search result; only the RESULTS most recently used ones stay."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?)", (key, data, time.time()))
            self._db.execute(
                "DELETE FROM results WHERE key NOT IN (SELECT key FROM results ORDER BY used DESC LIMIT ?)",
                (RESULTS,),
            )
            self._db.commit()

    def get_matrix(self, keys: list[bytes], dim: int | None = None) -> tuple[list[bytes], np.ndarray]:
        """The cached vectors among `keys` (of `dim` dimensions, when given): the keys found and their vectors as
        one float32 matrix, in that order. A vector's last use is written only when it is a day old or more, so a
        warm run reads without rewriting the table."""
        rows: list[tuple[bytes, int, bytes]] = []
        stale: list[bytes] = []
        now = time.time()
        self._settle()
        with self._lock:
            for key, d, data, used in self._select(keys):
                rows.append((key, d, data))
                if used is None or used < now - REFRESH_SECONDS:
                    stale.append(key)
            if stale:
                self._db.executemany("UPDATE vectors SET used=? WHERE key=?", [(now, k) for k in stale])
                self._db.commit()
        return _decode(rows, dim)

    def _select(self, keys: list[bytes]) -> Iterator[tuple[bytes, int, bytes, float | None]]:
        """Rows for `keys`: one scan of the table when they are most of it (a warm run over a whole file reads
        4x faster so), else look-ups 900 keys at a time."""
        (last,) = self._db.execute("SELECT COALESCE(MAX(rowid), 0) FROM vectors").fetchone()  # >= the row count
        if len(keys) * 2 >= last:
            wanted = set(keys)
            yield from (r for r in self._db.execute("SELECT key, dim, data, used FROM vectors") if r[0] in wanted)
            return
        for i in range(0, len(keys), 900):
            chunk = keys[i : i + 900]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(f"SELECT key, dim, data, used FROM vectors WHERE key IN ({marks})", chunk)

    def put_matrix(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Store one vector per key (rows of `vectors`, kept as float16), on a writer thread: sqlite lets go of the
        GIL while it writes, so the caller embeds the next batch meanwhile. `flush()` waits for the writes."""
        if not keys:
            return
        blob = np.ascontiguousarray(vectors, dtype=np.float16).tobytes()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="tuneline-cache")
            _WRITING.add(self)
        self._pending.append(self._writer.submit(self._write, keys, int(vectors.shape[1]), blob))

    def flush(self) -> None:
        """Wait for the writes `put_matrix` queued (and raise what one of them raised)."""
        self._settle()
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def _settle(self) -> None:
        """Let the queued writes finish and the writer thread end, keeping their outcome for `flush` to raise: no
        thread (idle or busy with SQLite and this cache's lock) is left in a process about to fork."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def _write(self, keys: list[bytes], dim: int, blob: bytes) -> None:
        now = time.time()
        step = 2 * dim
        rows = [(k, dim, blob[i * step : (i + 1) * step], now) for i, k in enumerate(keys)]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
            self._db.commit()
            if self._size is None:
                self._size = self._stored_bytes()
            else:
                self._size += sum(len(r[2]) + _ROW_OVERHEAD for r in rows)
            if self._size > self.max_bytes:
                self._evict()

    def _stored_bytes(self) -> int:
        (size,) = self._db.execute(
            f"SELECT COALESCE(SUM(LENGTH(data)) + COUNT(*) * {_ROW_OVERHEAD}, 0) FROM vectors"
        ).fetchone()
        return int(size)

    def _evict(self) -> None:
        size = self._stored_bytes()
        if size > self.max_bytes:
            (count,) = self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()
            drop = max(1, int(count * (1 - 0.8 * self.max_bytes / size)))  # down to 80% of the limit
            self._db.execute(
                "DELETE FROM vectors WHERE key IN (SELECT key FROM vectors ORDER BY used LIMIT ?)", (drop,)
            )
            self._db.commit()
            size = self._stored_bytes()
        self._size = size

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._db.close()
