"""Embeddings cached on disk by content hash, so reopening a file or editing one line embeds only what changed.

One SQLite file under the user cache folder (safe across processes), bounded in size: when it grows past the
limit the least recently used vectors go first.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import platformdirs

DEFAULT_MAX_BYTES = 512 * 1024 * 1024


def default_path() -> Path:
    return Path(platformdirs.user_cache_dir("tuneline")) / "embeddings.sqlite"


def content_key(model_id: str, text: str) -> bytes:
    return hashlib.blake2b(f"{model_id}\0{text}".encode("utf-8", "surrogatepass"), digest_size=20).digest()


class EmbeddingCache:
    def __init__(self, path: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path) if path else default_path()
        self.max_bytes = max_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, dim INTEGER, data BLOB, used REAL)")

    def get_many(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        out: dict[bytes, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, dim, data FROM vectors WHERE key IN ({marks})", chunk)
                for key, dim, data in rows:
                    out[key] = np.frombuffer(data, dtype=np.float16, count=dim).astype(np.float32)
            if out:
                now = time.time()
                self._db.executemany("UPDATE vectors SET used=? WHERE key=?", [(now, k) for k in out])
                self._db.commit()
        return out

    def put_many(self, items: dict[bytes, np.ndarray]) -> None:
        if not items:
            return
        now = time.time()
        rows = [(k, int(v.shape[0]), v.astype(np.float16).tobytes(), now) for k, v in items.items()]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
            self._db.commit()
            self._evict()

    def _evict(self) -> None:
        (size,) = self._db.execute("SELECT COALESCE(SUM(LENGTH(data)) + COUNT(*) * 40, 0) FROM vectors").fetchone()
        if size <= self.max_bytes:
            return
        (count,) = self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()
        drop = max(1, int(count * (1 - 0.8 * self.max_bytes / size)))  # down to 80% of the limit
        self._db.execute("DELETE FROM vectors WHERE key IN (SELECT key FROM vectors ORDER BY used LIMIT ?)", (drop,))
        self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()
