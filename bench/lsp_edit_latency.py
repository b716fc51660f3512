"""Language server at scale: open 20k- and 100k-line chat datasets through a real LSP client, then edit them.

Measures, on the same generated file (per size):
  - `tuneline check FILE` wall time (the baseline of the open), timed right before each of the two opens, best of two;
  - time from sending `didOpen` to receiving the first `publishDiagnostics` (client side, so it includes moving
    the file over the pipe and parsing the diagnostics), best of two fresh servers;
  - one-line edits (change a word, break or fix a line, duplicate a line, change a system prompt, insert and
    delete lines), each sent once the previous one's diagnostics arrived:
      * what the user feels: `didChange` → `publishDiagnostics` at the client, with the server's own debounce;
      * its floor, measured in the same run: the same edits against a server that does not debounce at all
        (debounceMs 0); the ratio feel / floor is what the debounce costs;
      * the server-side time from receiving `didChange` to the diagnostics being ready and written (debounce
        excluded), and the analysis job alone, from the server's `tuneline/debugTimings` request;
  - typing bursts (a word typed one key every 40 ms): last key → the final version's diagnostics, and how many of
    the burst's versions were published;
  - the server's peak RSS (VmHWM) after the open, after the edits and at the end (after symbols and stats), and
    the peak of the server plus any worker processes it starts.

Run:  flock /tmp/tuneline-heavy.lock .venv/bin/python bench/lsp_edit_latency.py [--lines 20000 100000] [--edits 300]
      ... --debounce-ms 150    # the fixed debounce the server had before it adapted to the analysis cost
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import generate as lead_generator  # bench/generate.py: real English sentences, ~500 bytes per example
from generate import as_installed
from lsprotocol import types
from pygls.lsp.client import LanguageClient

SYSTEM = lead_generator.SYSTEM
WORDS = ["model", "data", "training", "answer", "question", "token", "budget", "server", "cache", "prompt"]


def make_line(rng: random.Random, i: int) -> str:
    example = lead_generator.example(rng, i)
    if i % 997 == 0:  # non-ASCII: an emoji (two UTF-16 units) and a raw U+2028 inside a string
        example["messages"][2]["content"] += " Thanks 😀 — see you\u2028soon."
    return json.dumps(example, ensure_ascii=False)


def generate(path: Path, lines: int, seed: int = 7) -> None:
    """A realistic chat file with a sprinkling of problems (about one line in a thousand)."""
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        line = make_line(rng, i)
        if i % 1000 == 500:
            line = line.replace('"role": "assistant"', '"role": "assitant"', 1)
        elif i % 1000 == 700 and i > 1000:
            line = out[i - 1000]  # an exact duplicate
        elif i % 5000 == 900:
            line = line.replace("Question", "<|im_start|>Question", 1)
        out.append(line)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


class Client(LanguageClient):
    def __init__(self) -> None:
        super().__init__("tuneline-bench", "1")
        self.published: dict[int | None, float] = {}  # version → when its first diagnostics arrived
        self.last_published: dict[int | None, tuple[float, int]] = {}  # version → when its last arrived, how many
        self.event = asyncio.Event()

        @self.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def publish(params: types.PublishDiagnosticsParams) -> None:
            now = time.perf_counter()
            self.published.setdefault(params.version, now)
            self.last_published[params.version] = (now, len(params.diagnostics))
            self.last_count = len(params.diagnostics)
            self.event.set()

        @self.feature(types.WORKSPACE_CONFIGURATION)
        def configuration(params: types.ConfigurationParams) -> list:
            return [{} for _ in params.items]

        @self.feature(types.WINDOW_LOG_MESSAGE)
        def log_message(params: types.LogMessageParams) -> None:
            pass

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def show_message(params: types.ShowMessageParams) -> None:
            print("server says:", params.message, file=sys.stderr)

    async def wait_version(self, version: int, timeout: float = 600) -> float:
        deadline = time.perf_counter() + timeout
        while version not in self.published:
            self.event.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no diagnostics for version {version}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.event.wait(), remaining)
        return self.published[version]


class MemoryWatch:
    """Samples the memory of a process and its children (the forkserver and its workers) every 50 ms: the sum of
    their RSS, which counts every page they share (the forkserver's preloaded engine and encoding, inherited by each
    worker) once per process, and the sum of their PSS, which splits a shared page among its sharers: the memory
    the processes take from the machine together. PSS is read every tenth sample (reading it walks the process's
    page tables, ~7 ms for a 600 MB server), and a sample where one process's PSS cannot be read is skipped."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.peak_total = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        tick = 0
        while not self._stop.is_set():
            tick += 1
            try:
                processes = [self.proc, *self.proc.children(recursive=True)]
                total = self.proc.memory_info().rss
                for child in processes[1:]:
                    with contextlib.suppress(psutil.Error):
                        total += child.memory_info().rss
                self.peak_total = max(self.peak_total, total)
                if tick % 10 == 0:
                    with contextlib.suppress(psutil.Error):  # a worker that just exited: skip this sample
                        self.peak_pss = max(self.peak_pss, sum(_pss(p) for p in processes))
            except psutil.Error:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def server_hwm_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")


def _pss(proc) -> int:
    """A process's proportional set size (/proc/PID/smaps_rollup); raises psutil.Error where it cannot be read
    (the sample is then skipped), 0 where the system reports none."""
    return getattr(proc.memory_full_info(), "pss", 0)


def time_check(path: Path, runs: int) -> float:
    best = float("inf")
    exe = Path(sys.executable).with_name("tuneline")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(exe), "check", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def edits_for(rng: random.Random, lines: list[str], count: int) -> list[tuple[str, tuple[int, int, int, int, str]]]:
    """One-line edits of several kinds, as (kind, (l1, c1, l2, c2, text)); `lines` follows the document."""
    out = []
    kinds = ["word", "word", "word", "break", "duplicate", "system", "insert", "delete"]

    def replace(kind: str, line: int, start: int, end: int, new: str) -> None:
        out.append((kind, (line, start, line, end, new)))
        text = lines[line]
        lines[line] = text[:start] + new + text[end:]

    for _ in range(count):
        kind = rng.choice(kinds)
        line = rng.randrange(10, len(lines) - 10)
        text = lines[line]
        if kind == "word" and '"user"' in text:
            at = text.index('"content": "', text.index('"user"')) + 12
            replace(kind, line, at, at, rng.choice(WORDS) + " ")
        elif kind == "break" and text.endswith("}"):
            replace(kind, line, len(text) - 1, len(text), "")  # drop the closing brace: invalid JSON
            replace("fix", line, len(text) - 1, len(text) - 1, "}")
        elif kind == "duplicate":
            replace(kind, line, 0, len(text), lines[rng.randrange(0, len(lines))])
        elif kind == "system" and SYSTEM in text:
            at = text.index(SYSTEM)
            replace(kind, line, at, at + len(SYSTEM), "You are terse.")
        elif kind == "insert":
            new = make_line(rng, 10_000_000 + line)
            out.append((kind, (line, 0, line, 0, new + "\n")))
            lines.insert(line, new)
        elif kind == "delete":
            out.append((kind, (line, 0, line + 1, 0, "")))
            del lines[line]
        else:
            replace("char", line, 1, 1, " ")
    return out


async def feature_timings(client: Client, uri: str, count: int) -> dict[str, float]:
    """Client-side time of the other requests on the big file (after the edits, so the dataset is warm)."""
    doc = types.TextDocumentIdentifier(uri=uri)
    middle = count // 2
    requests = {
        "hover_ms": (types.TEXT_DOCUMENT_HOVER, types.HoverParams(doc, types.Position(middle, 5))),
        "inlay_hints_60_lines_ms": (
            types.TEXT_DOCUMENT_INLAY_HINT,
            types.InlayHintParams(doc, types.Range(types.Position(middle, 0), types.Position(middle + 60, 0))),
        ),
        "code_lens_ms": (types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensParams(doc)),
        "code_actions_ms": (
            types.TEXT_DOCUMENT_CODE_ACTION,
            types.CodeActionParams(
                doc,
                types.Range(types.Position(500, 0), types.Position(500, 0)),
                types.CodeActionContext(diagnostics=[]),
            ),
        ),
        "document_symbols_ms": (types.TEXT_DOCUMENT_DOCUMENT_SYMBOL, types.DocumentSymbolParams(doc)),
    }
    out: dict[str, float] = {}
    for name, (method, params) in requests.items():
        started = time.perf_counter()
        await client.protocol.send_request_async(method, params)
        out[name] = round((time.perf_counter() - started) * 1000, 1)
    started = time.perf_counter()
    await client.protocol.send_request_async(
        types.WORKSPACE_EXECUTE_COMMAND, types.ExecuteCommandParams(command="tuneline.stats", arguments=[uri])
    )
    out["stats_command_s"] = round(time.perf_counter() - started, 1)
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


CAPABILITIES = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(configuration=True),
    text_document=types.TextDocumentClientCapabilities(
        publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True)
    ),
)


async def start_server(root: Path, debounce_ms: float | None) -> Client:
    """A fresh `tuneline serve`. `debounce_ms` None leaves the server's own debounce (what users get)."""
    client = Client()
    await client.start_io(sys.executable, "-m", "tuneline", "serve", "--stdio")
    options = {} if debounce_ms is None else {"debounceMs": debounce_ms}
    await client.initialize_async(
        types.InitializeParams(capabilities=CAPABILITIES, root_uri=root.as_uri(), initialization_options=options)
    )
    client.initialized(types.InitializedParams())
    return client


async def stop_server(client: Client) -> None:
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


async def open_file(client: Client, uri: str, text: str) -> tuple[float, float, int, float | None]:
    """didOpen → the complete diagnostics (client side), → the first ones (a large file's first lines are published
    while the rest is analysed), the number of diagnostics, and the server's own time.

    The complete report is the last publication before the server records the open's timing (it writes the
    timing after publishing, and answers `tuneline/debugTimings` on the same pipe), so the timings are polled."""
    started = time.perf_counter()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="jsonl", version=1, text=text))
    )
    first = await client.wait_version(1) - started
    while True:
        timings = _plain(await client.protocol.send_request_async("tuneline/debugTimings", {"clear": False}))
        server = [t["serverMs"] / 1000 for t in timings["timings"] if t["kind"] == "open"]
        if server:
            break
        await asyncio.sleep(0.05)
    await client.protocol.send_request_async("tuneline/debugTimings", {"clear": True})
    complete, count = client.last_published[1]
    return complete - started, first, count, server[0]


def change(client: Client, uri: str, version: int, edit: tuple[int, int, int, int, str]) -> float:
    """Send one incremental didChange; returns when it was sent."""
    l1, c1, l2, c2, new = edit
    sent = time.perf_counter()
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(l1, c1), types.Position(l2, c2)), text=new
                )
            ],
        )
    )
    return sent


async def edit_round_trips(
    client: Client, uri: str, edits: list, version: int
) -> tuple[list[float], dict[int, str], int]:
    """Each edit sent alone, waiting for its diagnostics (a pause after each change): didChange → publish, in ms."""
    round_trips = []
    kinds: dict[int, str] = {}
    for kind, edit in edits:
        version += 1
        kinds[version] = kind
        sent = change(client, uri, version, edit)
        got = await client.wait_version(version)
        round_trips.append((got - sent) * 1000)
        await asyncio.sleep(0.005)
    return round_trips, kinds, version


async def typing_bursts(
    client: Client, uri: str, lines: list[str], version: int, bursts: int, interval: float
) -> tuple[list[float], float, int]:
    """Type a word a key at a time (one didChange per key, `interval` apart) into user messages: the time from
    the last key to the final version's diagnostics, and how many of each burst's versions were published
    (the rest were coalesced or dropped as stale: never a version older than one already published)."""
    rng = random.Random(5)
    after_last, published_per_burst = [], []
    for _ in range(bursts):
        line = rng.randrange(10, len(lines) - 10)
        while '"user"' not in lines[line]:
            line += 1
        at = lines[line].index('"content": "', lines[line].index('"user"')) + 12
        word = rng.choice(WORDS) + " "
        first = version + 1
        sent = 0.0
        for i, char in enumerate(word):
            version += 1
            sent = change(client, uri, version, (line, at + i, line, at + i, char))
            await asyncio.sleep(interval)
        lines[line] = lines[line][:at] + word + lines[line][at:]
        got = await client.wait_version(version)
        after_last.append((got - sent) * 1000)
        seen = sorted(v for v in client.published if v is not None and first <= v <= version)
        published_per_burst.append(len(seen))
        await asyncio.sleep(0.2)
    return after_last, statistics.mean(published_per_burst), len(word)


def hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def bench(path: Path, edit_count: int, debounce_ms: float | None, bursts: int) -> dict:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]
    line_count = len(lines)
    uri = path.as_uri()

    # The floor: a server that does not debounce at all (debounceMs 0), same file, same edits. Its open is also
    # the first of the two timed opens (best kept, like `check`'s best of two).
    # `check` is timed right before each open, so a machine that gets busier or quieter during the run moves both.
    checks = [time_check(path, 1)]
    floor_server = await start_server(path.parent, 0)
    opens = [await open_file(floor_server, uri, text)]
    floor_trips, _, _ = await edit_round_trips(
        floor_server, uri, edits_for(random.Random(11), list(lines), edit_count), 1
    )
    await stop_server(floor_server)

    checks.append(time_check(path, 1))
    check_seconds = min(checks)
    client = await start_server(path.parent, debounce_ms)
    pid = client._server.pid  # type: ignore[attr-defined]
    memory = MemoryWatch(pid)
    opens.append(await open_file(client, uri, text))
    rss_open = hwm_mb(pid)
    del text
    complete, _, complete_count, open_server = min(opens)
    first = min(o[1] for o in opens)
    open_all = [round(o[0], 2) for o in opens]

    feel, kinds, version = await edit_round_trips(client, uri, edits_for(random.Random(11), lines, edit_count), 1)
    timings = _plain(await client.protocol.send_request_async("tuneline/debugTimings", {"clear": True}))
    after_last, per_burst, keys = await typing_bursts(client, uri, lines, version, bursts, 0.04)
    rss_edits = hwm_mb(pid)
    changes = [t for t in timings["timings"] if t["kind"] == "change"]
    features = await feature_timings(client, uri, len(lines))
    memory.stop()
    server_hwm = memory.server_hwm_mb()
    await stop_server(client)
    server_ms = [t["serverMs"] for t in changes]
    by_kind: dict[str, list[float]] = {}
    for t in changes:
        by_kind.setdefault(kinds.get(t["version"], "?"), []).append(t["serverMs"])
    slowest = sorted(changes, key=lambda t: -t["serverMs"])[:3]
    analysis_ms = [t["analysisMs"] for t in changes]
    debounce = "server default" if debounce_ms is None else f"fixed {debounce_ms:g} ms"
    return {
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "lines": line_count,
        "debounce": debounce,
        "check_s": round(check_seconds, 2),
        "check_runs_s": [round(c, 2) for c in checks],
        "open_diagnostics_s": round(complete, 2),
        "open_diagnostics_runs_s": open_all,
        "open_vs_check": round(complete / check_seconds, 2),
        "open_diagnostics_count": complete_count,
        "open_first_lines_diagnostics_s": round(first, 2),
        "open_first_lines_vs_check": round(first / check_seconds, 2),
        "open_server_s": round(open_server, 2) if open_server is not None else None,
        "edits": len(changes),
        "feel_ms_p50": round(statistics.median(feel), 1),
        "feel_ms_p95": round(pct(feel, 0.95), 1),
        "floor_no_debounce_ms_p50": round(statistics.median(floor_trips), 1),
        "floor_no_debounce_ms_p95": round(pct(floor_trips, 0.95), 1),
        "feel_vs_floor_p95": round(pct(feel, 0.95) / pct(floor_trips, 0.95), 2),
        f"burst_{keys}_keys_40ms_apart_after_last_key_ms_p50": round(statistics.median(after_last), 1),
        f"burst_{keys}_keys_40ms_apart_after_last_key_ms_p95": round(pct(after_last, 0.95), 1),
        "burst_versions_published_mean": round(per_burst, 1),
        "edit_server_ms_p50": round(pct(server_ms, 0.5), 2),
        "edit_server_ms_p95": round(pct(server_ms, 0.95), 2),
        "edit_server_ms_max": round(max(server_ms), 2),
        "edit_analysis_ms_p95": round(pct(analysis_ms, 0.95), 2),
        "edit_server_ms_p95_by_kind": {k: round(pct(v, 0.95), 2) for k, v in sorted(by_kind.items())},
        "slowest_edits": [f"{kinds.get(t['version'])} {t['serverMs']} ms" for t in slowest],
        **features,
        "server_peak_rss_mb_after_open": round(rss_open),
        "server_peak_rss_mb_after_edits": round(rss_edits),
        "server_peak_rss_mb": round(server_hwm),
        "server_plus_workers_peak_rss_mb": round(memory.peak_total / 2**20),
        "server_plus_workers_peak_pss_mb": round(memory.peak_pss / 2**20),
    }


def _plain(value):
    """pygls hands custom results back as namedtuple-like `Object`s: turn them into dicts and lists."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


SUMMARY = [
    ("feel p50 / p95 ms", lambda r: f"{r['feel_ms_p50']} / {r['feel_ms_p95']}"),
    ("no-debounce floor p50 / p95 ms", lambda r: f"{r['floor_no_debounce_ms_p50']} / {r['floor_no_debounce_ms_p95']}"),
    ("feel p95 / floor p95", lambda r: f"{r['feel_vs_floor_p95']}x"),
    (
        "typing burst, last key → diagnostics p95 ms",
        lambda r: next(v for k, v in r.items() if k.endswith("key_ms_p95")),
    ),
    ("edit server side p95 ms (analysis p95)", lambda r: f"{r['edit_server_ms_p95']} ({r['edit_analysis_ms_p95']})"),
    ("open → all diagnostics s / check s", lambda r: f"{r['open_diagnostics_s']} / {r['check_s']}"),
    ("all diagnostics / check", lambda r: f"{r['open_vs_check']}x"),
    (
        "open → first lines' diagnostics s (/ check)",
        lambda r: f"{r['open_first_lines_diagnostics_s']} ({r['open_first_lines_vs_check']}x)",
    ),
    (
        "server peak RSS MB (open / edits / all)",
        lambda r: "{} / {} / {}".format(
            r["server_peak_rss_mb_after_open"], r["server_peak_rss_mb_after_edits"], r["server_peak_rss_mb"]
        ),
    ),
    (
        "with its workers: sum of RSS / of PSS, MB",
        lambda r: f"{r['server_plus_workers_peak_rss_mb']} / {r['server_plus_workers_peak_pss_mb']}",
    ),
    ("tuneline.stats s (another encoding counted)", lambda r: f"{r['stats_command_s']}"),
]


def main() -> None:
    as_installed()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs="+", default=[20_000, 100_000], help="file sizes to measure")
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--bursts", type=int, default=20, help="typing bursts (a word, one key every 40 ms)")
    parser.add_argument(
        "--debounce-ms", type=float, default=None, help="fix the server's debounce (150 = the old default)"
    )
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    results = []
    for lines in args.lines:
        with tempfile.TemporaryDirectory(prefix="tuneline-bench-") as tmp:
            path = Path(tmp) / "big.jsonl"
            generate(path, lines)
            results.append(asyncio.run(bench(path, args.edits, args.debounce_ms, args.bursts)))
        if not args.json:
            width = max(len(k) for k in results[-1])
            for key, value in results[-1].items():
                print(f"{key:<{width}}  {value}")
            print(flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    width = max(len(name) for name, _ in SUMMARY)
    print(f"{'':<{width}}  " + "  ".join(f"{r['lines']:>12,} lines" for r in results))
    for name, show in SUMMARY:
        print(f"{name:<{width}}  " + "  ".join(f"{show(r)!s:>18}" for r in results))


if __name__ == "__main__":
    main()
