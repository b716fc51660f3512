"""`tuneline train` and `tuneline runs`: pre-flight, confirm, start the worker, follow it.

Registered by `tuneline.cli` (`train`, `runs`) through `register(subparsers)`. Imports stay light so `tuneline --help` is fast: the
engine is loaded only when a command runs, and no SDK is ever imported in this process.

The request itself is built by `TrainRequest.from_options`, which the editor's train command uses too: the
epochs rule, the hyperparameter checks and the backend list (`backends.registry`) have one owner. Backend-specific
options reach `TrainRequest.options`: the documented local flags (`--base-model`, `--device`, `--config`,
`--max-seq-length`) and any `--option KEY=VALUE`; `options_from_args` copies every flag not common to all
backends into `options`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .backends.registry import NAMES as BACKENDS

_COMMON = {
    "command",
    "func",
    "file",
    "backend",
    "model",
    "validation",
    "split",
    "epochs",
    "batch_size",
    "learning_rate_multiplier",
    "learning_rate",
    "suffix",
    "seed",
    "yes",
    "dry_run",
    "detach",
    "runs_dir",
    "json",
    "option",
}


def _usage(message: str) -> Exception:
    from tuneline.cli.common import UsageError

    return UsageError(message)


def register(subparsers: Any) -> None:
    train = subparsers.add_parser(
        "train",
        help="check a dataset, show what training costs, and start a fine-tuning run",
        description="Pre-flight (errors refuse the run), a cost estimate, a confirmation, then a run that goes on "
        "in the background: follow it here or later with `tuneline runs watch ID`.",
    )
    train.add_argument("file", help="the training JSONL file")
    train.add_argument(
        "--backend", choices=BACKENDS, help="where to train (default: the provider of the project's `target` setting)"
    )
    train.add_argument("--model", help="base model (default: the backend's default, or the project's setting)")
    group = train.add_mutually_exclusive_group()
    group.add_argument("--validation", metavar="FILE", help="a held-out validation JSONL file")
    group.add_argument(
        "--split",
        type=float,
        nargs="?",
        const=0.1,
        metavar="FRACTION",
        help="hold out this fraction as validation (default 0.1; seeded, duplicates kept on one side)",
    )
    train.add_argument("--epochs", help="number of epochs, or 'auto' (OpenAI's heuristic, the default)")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate-multiplier", type=float, help="OpenAI's learning-rate multiplier")
    train.add_argument("--learning-rate", type=float, help="learning rate (Together, local)")
    train.add_argument("--suffix", help="a name part for the resulting model (OpenAI: up to 64 characters)")
    train.add_argument("--seed", type=int, help="seed for the job and the validation split")
    train.add_argument("--yes", "-y", action="store_true", help="start without asking")
    train.add_argument("--dry-run", action="store_true", help="only show the pre-flight")
    train.add_argument("--detach", action="store_true", help="start the run and return without following it")
    train.add_argument("--json", action="store_true", help="print the pre-flight (and run id) as JSON")
    train.add_argument("--runs-dir", help="where runs are recorded (default <project>/.tuneline/runs)")
    hosted = train.add_argument_group("azure and openai-compatible backends")
    hosted.add_argument(
        "--base-url",
        metavar="URL",
        help="the endpoint: an OpenAI-compatible API address (…/v1), or your Azure resource (https://NAME.openai.azure.com)",
    )
    hosted.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="the environment variable holding the key (openai-compatible; default TUNELINE_API_KEY)",
    )
    hosted.add_argument(
        "--grader", metavar="FILE", help="a grader config (JSON) for reinforcement fine-tuning on Azure (o4-mini)"
    )
    local = train.add_argument_group("local backend")
    local.add_argument("--base-model", metavar="PATH", help="a local model folder (local backend)")
    local.add_argument("--device", help="cpu, cuda, cuda:1 ... (local backend)")
    local.add_argument("--config", metavar="FILE", help="a training config file (local backend)")
    local.add_argument("--max-seq-length", type=int, help="maximum tokens per example (local backend)")
    train.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="a backend-specific option (repeatable)"
    )
    train.set_defaults(func=cmd_train)

    runs = subparsers.add_parser("runs", help="list, show, follow, cancel or resume training runs")
    runs.add_argument("--runs-dir", help="where runs are recorded (default <project>/.tuneline/runs)")
    sub = runs.add_subparsers(dest="runs_command", required=True)
    p = sub.add_parser("list", help="all runs, newest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs_list)
    for name, func, text in (
        ("show", cmd_runs_show, "a run's record, checkpoints and latest events"),
        ("watch", cmd_runs_watch, "follow a run live until it finishes"),
        ("cancel", cmd_runs_cancel, "cancel a run"),
        ("resume", cmd_runs_resume, "follow a run again, or continue a stopped local run"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("id", help="a run id, a unique prefix of one, or 'last'")
        if name == "show":
            p.add_argument("--json", action="store_true")
        if name in ("cancel",):
            p.add_argument("--no-wait", action="store_true", help="return at once instead of waiting up to 30 s")
        if name == "resume":
            p.add_argument("--detach", action="store_true", help="do not follow the run after resuming it")
        p.set_defaults(func=func)


# --- train -------------------------------------------------------------------------------------------------------
def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Backend-specific flags (anything not common to all backends) plus `--option KEY=VALUE` pairs."""
    options = {k: v for k, v in vars(args).items() if k not in _COMMON and not k.startswith("runs_") and v is not None}
    for item in args.option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _usage(f"--option takes KEY=VALUE, not {item!r}")
        options[key.strip().replace("-", "_")] = _parse_value(value)
    return options


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def build_request(args: argparse.Namespace):
    from .backends.base import TrainRequest

    dataset = Path(args.file)
    if not dataset.is_file():
        raise _usage(f"{args.file}: no such file")
    validation = Path(args.validation) if args.validation else None
    if validation is not None and not validation.is_file():
        raise _usage(f"{args.validation}: no such file")
    try:
        return TrainRequest.from_options(
            dataset,
            model=args.model,
            validation=validation,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate_multiplier=args.learning_rate_multiplier,
            learning_rate=args.learning_rate,
            suffix=args.suffix,
            seed=args.seed,
            options=options_from_args(args),
            names={k: "--" + k.replace("_", "-") for k in _COMMON},
        )
    except ValueError as exc:
        raise _usage(str(exc)) from None


def cmd_train(args: argparse.Namespace) -> int:
    from .launch import LaunchError, project_root, registry_for, start_run
    from .preflight import PreflightError, render_text, run_preflight
    from .processes import safe_children

    safe_children()
    request = build_request(args)
    try:
        if args.backend is None:  # the target's provider, as `tuneline check` judged the file for it
            from .preflight import default_backend

            args.backend = default_backend(request.dataset)
        pf = run_preflight(request, args.backend, split=args.split, seed=args.seed)
    except PreflightError as exc:
        raise _usage(str(exc)) from None
    if args.json and (args.dry_run or not pf.ok):
        print(json.dumps({k: v for k, v in pf.to_json().items() if k != "markdown"}, indent=2))
    else:
        sys.stdout.write(render_text(pf))
    if not pf.ok:
        return 1
    if args.dry_run:
        print("Dry run: nothing was uploaded.") if not args.json else None
        return 0
    if not args.yes and args.backend != "local":
        if not sys.stdin.isatty():
            raise _usage("this run costs money: pass --yes to start it without a question")
        answer = input(f"Start this run on {args.backend} (estimated cost {pf.cost_text()})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Not started.")
            return 1
    registry = registry_for(project_root(request.dataset), args.runs_dir)
    approval = "--yes" if args.yes else ("not needed" if args.backend == "local" else "asked")
    try:
        record = start_run(registry, pf, source="cli", approval=approval)
    except LaunchError as exc:
        raise _usage(str(exc)) from None
    if args.json:
        print(json.dumps({"runId": record.id, "folder": str(registry.folder(record.id))}))
    else:
        print(f"Started run {record.id} ({registry.folder(record.id)}).")
        print(f"Follow it with `tuneline runs watch {record.id}`; cancel with `tuneline runs cancel {record.id}`.")
    if args.detach or args.json:
        return 0
    return _follow(registry, record.id)


def _follow(registry, run_id: str) -> int:
    from .watch import printable, watch

    try:
        record = watch(registry, run_id)
    except KeyboardInterrupt:
        print(f"\nStopped watching; the run goes on (`tuneline runs watch {run_id}`).")
        return 0
    if record.status == "succeeded":
        print(f"Done: {record.result_model}")
        return 0
    if record.status == "stalled":
        print(f"tuneline: run {run_id} stalled: {printable(record.error)}", file=sys.stderr)
    return 1


# --- runs --------------------------------------------------------------------------------------------------------
def _registry(args: argparse.Namespace):
    from .launch import project_root, registry_for

    return registry_for(project_root(Path.cwd()), getattr(args, "runs_dir", None))


def resolve_id(registry, text: str) -> str:
    runs = registry.list()
    if text == "last":
        if not runs:
            raise _usage(f"no runs in {registry.root}")
        from .provenance import started_here

        # a planted run.json can claim any date: `last` is the newest run started here, if there is one
        return next((r.id for r in runs if started_here(registry, r.id)), runs[0].id)
    exact = [r.id for r in runs if r.id == text]
    if exact:
        return exact[0]
    matches = [r.id for r in runs if r.id.startswith(text) or r.id.endswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise _usage(f"no run {text!r} in {registry.root} (`tuneline runs list` shows them)")
    raise _usage(f"{text!r} matches {len(matches)} runs; give more of the id")


def cmd_runs_list(args: argparse.Namespace) -> int:
    from .launch import is_followed, list_runs
    from .provenance import started_here
    from .watch import printable

    registry = _registry(args)
    if args.json:
        print(json.dumps(list_runs(registry), indent=2))
        return 0
    runs = registry.list()
    if not runs:
        print(f"No runs in {registry.root}.")
        return 0
    for r in runs:
        cost = f"${r.cost_estimate_usd:,.2f}" if isinstance(r.cost_estimate_usd, (int, float)) else "cost ?"
        if not started_here(registry, r.id):
            note = " (not started here: read-only)"
        elif r.stopped or is_followed(registry, r.id):
            note = ""
        else:
            note = " (not followed: `tuneline runs resume`)"
        progress = ""
        if not r.finished and (r.progress or {}).get("step"):
            total = r.progress.get("total_steps")
            progress = f" step {r.progress['step']}" + (f"/{total}" if total else "")
        tail = f" → {r.result_model}" if r.result_model else (f" — {r.error}" if r.error else "")
        print(printable(f"{r.id}  {r.status:<10}{progress} {r.backend:<8} {r.model}  {cost}{tail}{note}"))
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    from .provenance import origin_fields

    registry = _registry(args)
    run_id = resolve_id(registry, args.id)
    record = registry.get(run_id)
    events = list(registry.read(run_id, "events"))
    metrics = list(registry.read(run_id, "metrics"))
    origin = origin_fields(registry, record)
    if args.json:
        run = {**record.to_json(), **origin}
        print(json.dumps({"run": run, "events": events, "metrics": metrics}, indent=2))
        return 0
    from .watch import describe, printable

    def line(text: str) -> None:
        print(printable(text))

    data = record.to_json()
    line(f"Run {record.id}: {describe(record)}")
    if not origin["startedHere"]:
        line(f"  {'origin':<18} {origin['origin']}")
    for key in ("backend", "model", "created_at", "updated_at", "cost_estimate_usd", "result_model"):
        line(f"  {key:<18} {data.get(key)}")
    line(f"  {'dataset':<18} {record.dataset.get('path')} ({record.dataset.get('examples')} examples)")
    if record.validation:
        line(f"  {'validation':<18} {record.validation.get('path')} ({record.validation.get('examples')} examples)")
    line(f"  {'hyperparameters':<18} {json.dumps(record.hyperparameters)}")
    if record.remote:
        line(f"  {'remote':<18} {json.dumps(record.remote)}")
    for cp in record.extra.get("checkpoints") or []:
        line(f"  checkpoint step {cp.get('step')}: {cp.get('model') or cp.get('path')} {_cp_metrics(cp)}")
    if metrics:
        last = metrics[-1]
        line(f"  last metrics: step {last.get('step')} loss {last.get('loss')} eval loss {last.get('eval_loss')}")
    for e in events[-10:]:
        line(f"  {str(e.get('time', ''))[11:19]} {e.get('message')}")
    return 0


def _cp_metrics(cp: dict[str, Any]) -> str:
    bits = [f"{k} {cp[k]:.4g}" for k in ("train_loss", "valid_loss") if isinstance(cp.get(k), (int, float))]
    return f"({', '.join(bits)})" if bits else ""


def cmd_runs_watch(args: argparse.Namespace) -> int:
    from .launch import LaunchError, is_followed, resume_run
    from .provenance import check
    from .watch import printable, watch

    registry = _registry(args)
    run_id = resolve_id(registry, args.id)
    record = registry.get(run_id)
    verdict = check(registry, run_id, record.backend)
    if not verdict.here:
        watch(registry, run_id)  # one line, read-only
        print(f"tuneline: {printable(verdict.problem)}; it is not followed", file=sys.stderr)
        return 1
    if not record.stopped and not is_followed(registry, run_id) and record.backend != "local":
        try:
            resume_run(registry, run_id)
            print(f"Nobody was following run {run_id}: following it again.")
        except LaunchError as exc:
            print(f"tuneline: {exc}", file=sys.stderr)
    return _follow(registry, run_id)


def cmd_runs_cancel(args: argparse.Namespace) -> int:
    from .launch import LaunchError, cancel_run

    registry = _registry(args)
    run_id = resolve_id(registry, args.id)
    try:
        status = cancel_run(
            registry, run_id, wait=0 if args.no_wait else float(os.environ.get("TUNELINE_CANCEL_WAIT", 30))
        )
    except LaunchError as exc:
        raise _usage(str(exc)) from None
    record = registry.get(run_id)
    if status == "cancelled":
        print(f"Run {run_id} cancelled.")
        return 0
    if record.finished:
        print(f"Run {run_id} had already {status}.")
        return 0
    print(f"Cancel requested for run {run_id} (now {status}); `tuneline runs watch {run_id}` shows when it stops.")
    return 0 if not record.error else 1


def cmd_runs_resume(args: argparse.Namespace) -> int:
    from .launch import LaunchError, resume_run

    registry = _registry(args)
    run_id = resolve_id(registry, args.id)
    try:
        resume_run(registry, run_id)
    except LaunchError as exc:
        raise _usage(str(exc)) from None
    print(f"Resumed run {run_id}.")
    if args.detach:
        return 0
    return _follow(registry, run_id)
