"""The fast rank-file loader builds exactly tiktoken's own encodings, and refuses a file that is not the genuine one.

Why: `get_encoding` skips tiktoken's slow per-line loader for speed (#14); token counts must not move by one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tiktoken

from tuneline.analysis import tokens


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_fast_encoding_is_tiktokens_own(name: str) -> None:
    ours = tokens.get_encoding(name)
    ref = tiktoken.get_encoding(name)
    assert ours is not ref
    assert ours._pat_str == ref._pat_str
    assert ours._special_tokens == ref._special_tokens
    assert ours._mergeable_ranks == ref._mergeable_ranks
    text = "Héllo wörld 🚀\n\t  tokens: 12345 <|endoftext|> don't"
    assert ours.encode_ordinary(text) == ref.encode_ordinary(text)


def test_a_tampered_rank_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    genuine = tokens._cached_file("o200k_base")
    assert genuine is not None
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    copy = tmp_path / genuine.name
    shutil.copyfile(genuine, copy)
    data = bytearray(copy.read_bytes())
    assert data[0:4] == b"IQ=="  # rank 0 is "!"
    data[0:4] = b"Ig=="  # now it is '"'
    copy.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not the expected one"):
        tokens._fast_encoding("o200k_base")


def test_parse_ranks_rejects_a_torn_line() -> None:
    assert tokens.parse_ranks(b"IQ== 0\nIg== 1\n") == {b"!": 0, b'"': 1}
    with pytest.raises(ValueError):
        tokens.parse_ranks(b"IQ== 0\nIg==\n")
