"""The background near-duplicate and train/validation overlap pass, through a real client and server process."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from neardup.planted import NUMBERS, NUMBERS_SOURCE, PARAPHRASE, SUPPORT  # tests/ is on sys.path (rootdir)

from tuneline.neardup.embedding_models import semantic_available

from .helpers import CONFIG, Client, server

pytestmark = pytest.mark.asyncio


async def codes_eventually(
    client: Client, uri: str, code: str, want: bool = True, timeout: float = 60
) -> list[types.Diagnostic]:
    """Diagnostics of `code` once the background pass has merged (or removed) them."""
    found: list[types.Diagnostic] = []
    for _ in range(int(timeout / 0.2)):
        found = [d for d in await client.get_diagnostics(uri) if d.code == code]
        if bool(found) == want:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"{code} {'never appeared' if want else 'never went away'}: {found}")


@pytest.mark.parametrize("mode", ["pull", "push"])
async def test_lexical_near_duplicates_appear_follow_edits_and_go(tmp_path, mode):
    async with server(tmp_path, {"nearDuplicates": "lexical"}, mode=mode) as client:
        uri = (tmp_path / "data.jsonl").as_uri()
        client.open(uri, "\n".join([*SUPPORT, NUMBERS]) + "\n")
        (near,) = await codes_eventually(client, uri, "TL302")
        assert near.range.start.line == 61
        assert near.related_information[0].location.range.start.line == NUMBERS_SOURCE
        assert "tuneline[embed]" in near.message or "semantic" in near.message  # the hover says how to go further
        client.edit(uri, 0, 0, 0, 0, SUPPORT[30] + "\n")  # a line above: the finding moves down with its line
        (near,) = await codes_eventually(client, uri, "TL302")
        assert (
            near.range.start.line == 62 and near.related_information[0].location.range.start.line == NUMBERS_SOURCE + 1
        )
        client.edit(uri, 62, 0, 63, 0, "")  # delete the near duplicate
        await codes_eventually(client, uri, "TL302", want=False)


@pytest.mark.skipif(not semantic_available(), reason="the embed extra is not installed")
async def test_semantic_pass_finds_a_paraphrase_with_progress(tmp_path):
    async with server(tmp_path, {"nearDuplicates": "semantic"}, mode="push") as client:
        uri = (tmp_path / "data.jsonl").as_uri()
        client.open(uri, "\n".join([*SUPPORT, PARAPHRASE]) + "\n")
        (near,) = await codes_eventually(client, uri, "TL302", timeout=120)
        assert near.range.start.line == 61 and near.related_information[0].location.range.start.line == 1
        assert "cosine" in near.message
        values = [v for reports in client.progress_reports.values() for v in reports]
        begins = [v.title for v in values if isinstance(v, types.WorkDoneProgressBegin)]
        assert "tuneline: near duplicates" in begins
        reports = [v.message for v in values if isinstance(v, types.WorkDoneProgressReport) and v.message]
        assert any(m.startswith("Embedding") and m.endswith(f"{len(SUPPORT) + 1} examples") for m in reports), reports


async def test_validation_overlap_with_the_training_file_on_disk(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(SUPPORT[:40]) + "\n")
    async with server(tmp_path, {}, mode="pull") as client:
        uri = (tmp_path / "valid.jsonl").as_uri()
        client.open(uri, "\n".join([*SUPPORT[40:], SUPPORT[5]]) + "\n")
        (leak,) = await codes_eventually(client, uri, "TL306")
        assert leak.range.start.line == 21 and leak.severity == types.DiagnosticSeverity.Error
        related = leak.related_information[0].location
        assert related.uri == train.as_uri() and related.range.start.line == 5
        # the training file changes on disk: the editor reports it and the overlap goes
        train.write_text("\n".join(SUPPORT[:5]) + "\n")
        client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=train.as_uri(), type=types.FileChangeType.Changed)]
            )
        )
        await codes_eventually(client, uri, "TL306", want=False)


async def test_clients_that_cannot_watch_files_still_see_training_file_changes(tmp_path):
    from .helpers import capabilities

    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(SUPPORT[:40]) + "\n")
    client: Client = await CONFIG.start()  # type: ignore[assignment]
    caps = capabilities("push")
    caps.workspace.did_change_watched_files = None  # like Neovim 0.7: no file watching for the server
    client.mode = "push"
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=caps, root_uri=tmp_path.as_uri(), initialization_options={"debounceMs": 10}
            )
        )
        uri = (tmp_path / "valid.jsonl").as_uri()
        client.open(uri, "\n".join([*SUPPORT[40:], SUPPORT[5]]) + "\n")
        await codes_eventually(client, uri, "TL306")
        train.write_text("\n".join(SUPPORT[:5]) + "\n")  # no notification: the server notices by itself
        await codes_eventually(client, uri, "TL306", want=False)
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_a_fifo_named_like_the_training_file_never_hangs_the_pass(tmp_path):
    """A repository can ship `train.jsonl` as a FIFO: the overlap pass must not block on it, and the server stays
    responsive (TL306 is simply not computed)."""
    import os

    os.mkfifo(tmp_path / "train.jsonl")
    async with server(tmp_path, {"nearDuplicates": "lexical"}, mode="pull") as client:
        uri = (tmp_path / "valid.jsonl").as_uri()
        client.open(uri, "\n".join([*SUPPORT, NUMBERS]) + "\n")
        await codes_eventually(client, uri, "TL302")  # the pass ran to the end past the FIFO
        assert not [d for d in await client.get_diagnostics(uri) if d.code == "TL306"]
