#!/usr/bin/env python3
"""The GitHub Action's command lines (action.yml), built from its inputs so that a test can check them.

action.yml passes the inputs as environment variables (never pasted into a shell script: an input could hold
`$(…)`), and calls this script twice:

    action_command.py requirement ACTION_PATH   prints what pip installs: the action's own checkout, plus the
                                                extra the near-duplicates input needs
    action_command.py run                       runs `tuneline check --format github …` and exits with its code
    action_command.py argv                      prints that command's arguments as JSON (tests)

Inputs: TUNELINE_PATHS (files or folders; spaces or new lines between them, quotes for names with spaces;
default "."), TUNELINE_TARGET (PROVIDER:MODEL), TUNELINE_SELECT / TUNELINE_IGNORE (rule codes, names or prefixes,
separated by commas, spaces or new lines), TUNELINE_NEAR_DUPLICATES (off, lexical, semantic or auto).
A bad input is one `::error::` line and exit 2, like tuneline's own usage errors. Standard library only: it runs
before and beside the install.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping

NEAR_DUPLICATE_MODES = ("off", "lexical", "semantic", "auto")
# What each near-duplicate mode needs installed besides tuneline itself (pyproject.toml's extras).
NEAR_DUPLICATE_EXTRAS = {"lexical": "lexical", "auto": "lexical", "semantic": "embed"}


class InputError(ValueError):
    """An action input that cannot be used; the message names the input."""


def _value(env: Mapping[str, str], name: str) -> str:
    return env.get(f"TUNELINE_{name}", "").strip()


def _rules(env: Mapping[str, str], name: str) -> str | None:
    codes = [c for c in re.split(r"[\s,]+", _value(env, name)) if c]
    for code in codes:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", code):
            raise InputError(f"{name.lower()}: {code!r} is not a rule code, name or prefix")
    return ",".join(codes) or None


def _near_duplicates(env: Mapping[str, str]) -> str | None:
    mode = _value(env, "NEAR_DUPLICATES").lower()
    if not mode:
        return None
    if mode not in NEAR_DUPLICATE_MODES:
        raise InputError(f"near-duplicates: {mode!r} is not one of {', '.join(NEAR_DUPLICATE_MODES)}")
    return mode


def check_arguments(env: Mapping[str, str]) -> list[str]:
    """`tuneline`'s arguments for these inputs: `check --format github [options] -- PATH...`."""
    try:
        paths = shlex.split(_value(env, "PATHS") or ".")
    except ValueError as exc:
        raise InputError(f"paths: {exc}") from None
    args = ["check", "--format", "github"]
    target = _value(env, "TARGET")
    if target:
        if any(c.isspace() for c in target):
            raise InputError(f"target: {target!r} holds a space; write PROVIDER:MODEL")
        args += ["--target", target]
    for flag, value in (("--select", _rules(env, "SELECT")), ("--ignore", _rules(env, "IGNORE"))):
        if value:
            args += [flag, value]
    mode = _near_duplicates(env)
    if mode:
        args += ["--near-duplicates", mode]
    return [*args, "--", *(paths or ["."])]


def requirement(action_path: str, env: Mapping[str, str]) -> str:
    """What pip installs: the action's checkout (the same commit as `uses: …@REF`), with the extra it needs."""
    extra = NEAR_DUPLICATE_EXTRAS.get(_near_duplicates(env) or "off")
    return f"{action_path}[{extra}]" if extra else action_path


def _tuneline_program() -> str:
    """The `tuneline` script installed beside this Python. Not `python -m tuneline`: that would put the checked-out
    repository (the working directory) first on `sys.path`, where a `tuneline/` folder would shadow the package."""
    found = shutil.which("tuneline", path=os.path.dirname(sys.executable))
    if found is None:
        raise InputError(f"tuneline is not installed beside {sys.executable}")
    return found


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["requirement"] and len(argv) == 2:
            print(requirement(argv[1], os.environ))
            return 0
        if argv == ["argv"]:
            print(json.dumps(check_arguments(os.environ)))
            return 0
        if argv == ["run"]:
            args = check_arguments(os.environ)
            print("tuneline " + shlex.join(args), flush=True)
            return subprocess.call([_tuneline_program(), *args])
    except InputError as exc:
        print(f"::error title=tuneline action::{exc}", flush=True)
        return 2
    print("usage: action_command.py requirement ACTION_PATH | run | argv", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
