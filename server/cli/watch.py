"""`tuneline check --watch`: check, then check again each time a watched dataset or the settings change.

Watched: the files named on the command line (also while they are missing), the `*.jsonl` files in the named
folders (new ones too), the settings that apply (the `--config` file, or the tuneline.toml / pyproject.toml that
discovery finds, and the folders it looks in on the way there), the models and validation files the settings
name, and the training file of each checked validation file (TL306 reads it). Waiting is `tuneline.fswatch`:
the system's notifications, a slow poll only where it cannot notify.

A re-check costs the edit, not the file. Each file's lines are remembered as digests and end offsets; after a
change the file is scanned once (digests only), the unchanged head and tail are kept, and only the lines in
between are read, analysed (the engine's per-line cache answers for lines it has seen before) and spliced into
the kept `Dataset`, whose file-level rules update incrementally. A settings change starts over with a new engine.

A file that disappears, becomes unreadable or stops being a regular file is one line on stderr and watching goes
on. Ctrl-C ends the watch with exit code 0.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from ..analysis.config import ConfigError, Settings, find_project_config
from ..analysis.engine import Engine
from ..analysis.lines import iter_raw_lines
from ..analysis.report import FileReport, check_stream
from ..analysis.types import Severity
from ..fileio import FileRefused, open_regular
from ..fswatch import Waiter, stamp
from ..neardup.pairing import training_partner
from ..output import FORMATTERS
from .common import UsageError, build_engine, color, max_line_bytes, run_at_end, settings_from_args, write_output
from .near_duplicates import add_near_duplicates, resolve_mode

CONFIG_NAMES = ("tuneline.toml", "pyproject.toml")
CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear the screen (what was on it stays in the scrollback)
CHANGED = -1  # a line digest that matches nothing: a line over the size cap, whose bytes were not kept
POLL_SECONDS = 1.0  # where the platform cannot notify

# check's folder expansion, handed over by check.py: (paths, problems with warn()) -> targets with .path
Expand = Callable[[list[str], Any], list[Any]]


def watch_check(args: Any, expand: Expand) -> int:
    """Run `tuneline check` on `args.paths`, then again after every change, until Ctrl-C (exit code 0)."""
    if "-" in args.paths:
        raise UsageError("--watch checks files and folders, not standard input")
    session = _Session(args, expand)
    expand(list(args.paths), _Problems())  # a path that does not exist at the start is a typo: exit 2
    session.load_settings()  # so is a broken config at the start; later, one line and watching goes on
    with _interrupt_only_here(), suppress(KeyboardInterrupt):
        session.loop()
    return 0


@contextmanager
def _interrupt_only_here() -> Iterator[None]:
    """Ctrl-C stops this process only. Worker processes forked for a large file inherit this handler, so they
    ignore the terminal's SIGINT and finish their chunk instead of each printing a traceback."""
    owner = os.getpid()

    def handler(_signum: int, _frame: object) -> None:
        if os.getpid() == owner:
            raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass(slots=True)
class _Problems:
    """What check's folder walk reports (`warn`, `count`), kept for the next screen instead of printed at once."""

    lines: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.lines)

    def warn(self, message: str) -> None:
        self.lines.append(message)


@dataclass(slots=True)
class _Scan:
    """A file's lines as last checked: a digest of each line's bytes and the byte offset just past it."""

    digests: array
    ends: array

    def invalidated(self) -> _Scan:
        """The same lines, all marked changed: the next check reads the whole file again."""
        return _Scan(array("q", [CHANGED]) * len(self.digests), self.ends)


@dataclass(slots=True)
class _Tracked:
    report: FileReport
    scan: _Scan


def _scan(stream: BinaryIO, cap: int) -> _Scan:
    digests, ends = array("q"), array("Q")
    offset = 0
    for raw, size, ending in iter_raw_lines(stream, cap):
        digests.append(CHANGED if raw is None else hash(raw))  # CPython's hash is never -1
        offset += size + len(ending)
        ends.append(offset)
    return _Scan(digests, ends)


def _unchanged_ends(old: array, new: array) -> tuple[int, int]:
    """How many lines at the start and (apart from those) at the end of the file kept their bytes."""
    limit = min(len(old), len(new))
    head = 0
    while head < limit and old[head] == new[head] != CHANGED:
        head += 1
    tail = 0
    while tail < limit - head and old[-1 - tail] == new[-1 - tail] != CHANGED:
        tail += 1
    return head, tail


class _Window:
    """`length` bytes of a stream from where it stands: the changed lines, read without the rest of the file."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self.stream, self.left = stream, length

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.stream.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        return data


class _Session:
    """What stays between checks: the engine (and its per-line cache), each file's kept report and scan, and the
    paths whose change means a new check."""

    def __init__(self, args: Any, expand: Expand) -> None:
        self.args = args
        self.expand = expand
        self.cap = max_line_bytes()
        self.engine: Engine | None = None
        self.settings: Settings | None = None
        self.mode = "off"
        self.files: dict[Path, _Tracked] = {}
        self.seen: dict[Path, tuple[int, int, int, int] | None] = {}  # each target's disk state when last read
        self.settings_seen: dict[Path, tuple[int, int, int, int] | None] = {}  # the settings files' when loaded
        self.context_seen: dict[Path, tuple[int, int, int, int] | None] = {}
        self.targets: list[Path] = []
        self.folder_args = [Path(os.path.abspath(p)) for p in args.paths if Path(p).is_dir()]
        self.subfolders: set[Path] = set()
        self.config_files: set[Path] = set()  # their change reloads the settings
        self.config_folders: set[Path] = set()  # a tuneline.toml / pyproject.toml appearing here does too
        self.context: set[Path] = set()  # read for the report, not checked: training partners, the validation file
        self.waiter: Waiter | None = None
        self.told_polling: str | None = None
        self.stale: set[Path] = set()  # inputs that changed while a check read them (taken once its watch is on)
        self.edited = False  # a file read in this check differs from its last check

    # --- the loop ------------------------------------------------------------------------------------------------
    def loop(self) -> None:
        reread: set[Path] | None = None  # None: every file
        reload, expand, touched = False, True, False
        try:
            while True:
                self.check(reread, reload=reload, expand=expand, touched=touched)
                waiter = self._waiter()
                changed = self.stale
                while True:
                    reread, reload, expand, touched = self._classify(changed)
                    if reread or reload or expand or touched:
                        break
                    changed = waiter.wait()
        finally:
            if self.waiter is not None:
                self.waiter.close()

    def _waiter(self) -> Waiter:
        paths = self._watch_paths()
        current = self.waiter
        if current is None or current.paths != sorted({Path(os.path.abspath(p)) for p in paths}):
            if current is not None:
                current.close()
            self.waiter = current = Waiter(paths, poll_seconds=POLL_SECONDS)
            if current.polling and current.why_polling != self.told_polling:
                self.told_polling = current.why_polling
                print(
                    f"tuneline: note: watching by polling every {POLL_SECONDS:g} s: {current.why_polling}",
                    file=sys.stderr,
                )
        return current

    def _watch_paths(self) -> set[Path]:
        return {*self.targets, *self._settings_paths(), *self.context, *self.subfolders, *self.folder_args}

    def _settings_paths(self) -> set[Path]:
        return {*self.config_files, *(folder / name for folder in self.config_folders for name in CONFIG_NAMES)}

    def _stale(self) -> set[Path]:
        """Inputs whose disk state is not what was read (a change between reading and watching)."""
        seen = {**self.settings_seen, **self.context_seen, **{p: self.seen.get(p) for p in self.targets}}
        return {Path(os.path.abspath(p)) for p, before in seen.items() if stamp(p) != before}

    def _classify(self, changed: set[Path]) -> tuple[set[Path], bool, bool, bool]:
        """(files to read again, reload the settings, look in the folders again, re-run the cross-file checks)."""
        if not changed:
            return set(), False, False, False
        # A path is compared as written and with symlinks resolved: a folder reached by two names (a symlinked
        # project folder, macOS's /tmp) is one watch, reported under either name.
        names = {form: target for target in self.targets for form in _forms(target)}
        settings_files = {form for p in self.config_files for form in _forms(p)}
        settings_folders = {form for p in self.config_folders for form in _forms(p)}
        context = {form for p in self.context for form in _forms(p)}
        reread: set[Path] = set()
        reload = expand = touched = False
        for path in changed:
            forms = _forms(path)
            target = next((names[f] for f in forms if f in names), None)
            if target is not None:
                reread.add(target)
                if not path.exists() and self._in_folder_args(path):  # found in a folder, now gone: not a warning
                    expand = True
            elif forms & settings_files or (path.name in CONFIG_NAMES and {f.parent for f in forms} & settings_folders):
                reload = True
            elif forms & context:
                touched = True
            elif self._in_folder_args(path):
                expand = True
        return reread, reload, expand, touched

    def _in_folder_args(self, path: Path) -> bool:
        """A change in a named folder that can change what is checked there: a dataset file or a folder."""
        forms = _forms(path)
        roots = {form for folder in self.folder_args for form in _forms(folder)}
        if not any(f in roots or roots & set(f.parents) for f in forms):
            return False
        if forms & self.subfolders or path.is_dir():
            return not path.name.startswith(".")
        return path.name.endswith(".jsonl") and not path.name.startswith(".")

    # --- one check -----------------------------------------------------------------------------------------------
    def check(self, reread: set[Path] | None, *, reload: bool, expand: bool, touched: bool = False) -> None:
        """Check (re-reading the files in `reread`, every file when None) and show the result; a file that was
        touched without a change to its lines (a second event for one save, `touch`) shows nothing new."""
        began = time.perf_counter()
        problems = _Problems()
        self.edited = False
        reports: list[FileReport] | None = None
        if reread is not None and not (reload or expand or touched):
            reports = self._reports(reread, problems)
            if not self.edited and not problems.lines:
                self.stale = set()  # the watch went on all along: nothing was missed
                return
        if sys.stdout.isatty() and not self.args.no_clear:
            sys.stdout.write(CLEAR)
            sys.stdout.flush()
        if reload:
            try:
                self.load_settings()
            except (ConfigError, UsageError) as exc:
                self._waiter()
                self.stale = self._stale()
                print(f"tuneline: error: {exc}", file=sys.stderr)
                self._status(began, [], "the settings cannot be used: fix them and save to check again")
                return
        if expand:
            self._expand(problems)
        engine = self.engine
        assert engine is not None
        if reports is None:
            reports = self._reports(reread, problems)
        self.context = self._context(reports)
        self.context_seen = {p: stamp(p) for p in self.context}
        for report in reports:  # the cross-file passes run again on every check
            report.dataset.set_external("near-duplicates", [])
            report.dataset.set_external("overlap", [])
        try:
            add_near_duplicates(reports, engine, self.mode, self.args.near_duplicate_threshold)
        except UsageError as exc:
            problems.warn(str(exc))
            for report in reports:
                report.refresh()
        self._waiter()  # watching before anything is shown: a change made once the output is there is never missed
        self.stale = self._stale()  # and what changed before the watch began (both can see one change: harmless)
        for line in problems.lines:
            print(f"tuneline: warning: {line}", file=sys.stderr)
        if reports or self.args.format != "text":
            formatter = FORMATTERS[self.args.format]
            text = formatter(reports, engine, color=color(self.args), show_summary=not self.args.no_summary)
            write_output(text, machine=self.args.format != "text")
        run_at_end()  # this check's leftover work (cache writes), not left to pile up until the watch ends
        self._status(began, reports, f"{problems.count} not checked" if problems.count else "")

    def _reports(self, reread: set[Path] | None, problems: _Problems) -> list[FileReport]:
        """Every target's report: the kept one, or read again when it is in `reread` (None: all) or new."""
        reports: list[FileReport] = []
        for path in self.targets:
            tracked = self.files.get(path)
            if tracked is None or reread is None or path in reread:
                tracked = self._check_file(path, tracked, problems)
            if tracked is None:
                self.files.pop(path, None)
            else:
                self.files[path] = tracked
                reports.append(tracked.report)
        for gone in set(self.files) - set(self.targets):
            del self.files[gone]
        self.seen = {p: self.seen.get(p) for p in self.targets}
        return reports

    def _status(self, began: float, reports: list[FileReport], extra: str) -> None:
        """The one line that ends each check: when, what was found, how long it took."""
        errors = sum(1 for r in reports for f in r.findings if f.severity is Severity.ERROR)
        warnings = sum(1 for r in reports for f in r.findings if f.severity is Severity.WARNING)
        files = len(reports)
        bits = [
            dt.datetime.now().strftime("%H:%M:%S"),
            f"{files} file{'s' if files != 1 else ''}",
            f"{errors} error{'s' if errors != 1 else ''}",
            f"{warnings} warning{'s' if warnings != 1 else ''}",
            *([extra] if extra else []),
            _duration(time.perf_counter() - began),
        ]
        print(f"[{' · '.join(bits)}] watching for changes (Ctrl-C to stop)", file=sys.stderr, flush=True)

    def load_settings(self) -> None:
        """The settings as check finds them (ConfigError when they cannot be used); a change makes a new engine."""
        first = Path(self.args.paths[0])
        start = first if first.is_dir() else first.parent
        self.config_files, self.config_folders = _settings_sources(self.args.config, start, None)
        self.settings_seen = {p: stamp(p) for p in self._settings_paths()}
        settings = settings_from_args(self.args, start)
        self.config_files, self.config_folders = _settings_sources(self.args.config, start, settings)
        self.settings_seen.update((p, stamp(p)) for p in self._settings_paths() if p not in self.settings_seen)
        if settings != self.settings or self.engine is None:
            self.settings, self.engine = settings, build_engine(settings)
            self.files.clear()  # every result depends on the settings
            self.mode = resolve_mode(self.args.near_duplicates, settings)

    def _expand(self, problems: _Problems) -> None:
        """The files to check now: each named file (missing or not: it is watched for), and the *.jsonl files
        found in each named folder by check's own walk."""
        targets: list[Path] = []
        subfolders: set[Path] = set()
        for raw in self.args.paths:
            path = Path(raw)
            if path.is_dir():
                subfolders |= _folders_under(path)
                try:
                    found = self.expand([raw], problems)
                except UsageError:  # no *.jsonl files in it (any more)
                    found = []
                targets.extend(t.path for t in found if t.path is not None)
            else:
                targets.append(path)
        self.targets = list(dict.fromkeys(targets))
        self.subfolders = subfolders

    def _check_file(self, path: Path, old: _Tracked | None, problems: _Problems) -> _Tracked | None:
        """The file's report, re-using `old` for the lines that did not change; None (and one line) when it cannot
        be read."""
        self.seen[path] = stamp(path)
        if not path.exists() and not path.is_symlink():
            problems.warn(f"{path}: not there (deleted or renamed); it is checked again when it comes back")
            return None
        try:
            return self._read(path, old)
        except FileRefused as exc:
            problems.warn(f"{exc}; it is checked again when it changes")
        except OSError as exc:
            problems.warn(f"{path}: cannot read: {exc.strerror or exc}; it is checked again when it changes")
        return None

    def _read(self, path: Path, old: _Tracked | None) -> _Tracked:
        engine = self.engine
        assert engine is not None
        before = stamp(path)
        with open_regular(path) as fh:
            scan = _scan(fh, self.cap)
            report = self._splice(fh, path, old, scan) if old is not None else None
            if report is None:
                self.edited = True
                fh.seek(0)
                report = check_stream(fh, engine, str(path), jobs=self.args.jobs, max_line_bytes=self.cap)
        after = self.seen[path] = stamp(path)
        if after != before or len(report.dataset) != len(scan.digests):  # written to while being read
            scan = scan.invalidated()
        return _Tracked(report, scan)

    def _splice(self, fh: BinaryIO, path: Path, old: _Tracked, scan: _Scan) -> FileReport | None:
        """Bring `old`'s report up to date by reading only the changed lines; None when a full check is simpler
        (everything changed) or the file changed under the scan."""
        head, tail = _unchanged_ends(old.scan.digests, scan.digests)
        if head == len(scan.digests) == len(old.scan.digests):
            return old.report  # the same lines
        self.edited = True
        if head == 0 and tail == 0 and len(scan.digests):
            return None
        stop = len(scan.digests) - tail
        start_byte = scan.ends[head - 1] if head else 0
        end_byte = scan.ends[stop - 1] if stop > head else start_byte
        texts: list[str] = []
        results: list = []
        if end_byte > start_byte:
            fh.seek(start_byte)
            window = cast(BinaryIO, _Window(fh, end_byte - start_byte))
            sub = check_stream(window, self.engine, str(path), jobs=self.args.jobs, max_line_bytes=self.cap)
            if len(sub.dataset) != stop - head:
                return None
            texts = sub.dataset.texts
            results = [sub.dataset.result(i) for i in range(len(texts))]
        dataset = old.report.dataset
        dataset.splice(head, len(old.scan.digests) - tail, texts, results)
        report = old.report
        report.summary = dataset.summary()  # findings are collected after the cross-file passes (`check`)
        return report

    def _context(self, reports: list[FileReport]) -> set[Path]:
        """Files read for the report without being checked: each validation file's training file (TL306) and the
        validation file the settings name."""
        settings = self.settings
        out: set[Path] = set()
        configured: dict[Path, Path] = {}
        if settings is not None and settings.validation_file:
            validation = Path(settings.validation_file)
            out.add(validation)
            configured = {Path(r.path): validation for r in reports}
        for report in reports:
            try:
                partner = training_partner(Path(report.path), configured)
            except (OSError, RuntimeError):
                continue
            if partner is not None:
                out.add(partner)
        return {p for p in out if p not in self.targets}


def _forms(path: Path) -> set[Path]:
    """`path` absolute as written, and with symlinks resolved."""
    out = {Path(os.path.abspath(path))}
    with suppress(OSError, RuntimeError):
        out.add(path.resolve())
    return out


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _settings_sources(config: str | None, start: Path, settings: Settings | None) -> tuple[set[Path], set[Path]]:
    """(files whose change reloads the settings, folders where a new settings file would be found first). While a
    settings file cannot be read, every folder up to the root is watched: the broken one is among them."""
    files: set[Path] = set()
    folders: set[Path] = set()
    if config:
        files.add(Path(os.path.abspath(config)))
    else:
        start = start.resolve()
        chain = [start, *start.parents]
        try:
            found = find_project_config(start)
        except ConfigError:
            return files, set(chain)
        cwd = Path.cwd().resolve()
        top = found[0].parent if found else (cwd if cwd in chain else start)
        folders.update(chain[: chain.index(top) + 1] if top in chain else [start])
        if found:
            files.add(found[0])
    if settings is not None and settings.models_file:
        files.add(Path(os.path.abspath(settings.models_file)))
    return files, folders


def _folders_under(root: Path) -> set[Path]:
    """`root` and the folders check's walk enters (hidden ones and symlinks to folders left out, as it does)."""
    out = {Path(os.path.abspath(root))}
    for folder, dirs, _ in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        out.update(Path(os.path.abspath(os.path.join(folder, d))) for d in dirs)
    return out
