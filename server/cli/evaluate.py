"""`tuneline eval`: did the run help? Tuned and base model answer the same held-out prompts; the answers are scored
and compared, and the results stored in the run's folder.

The plan (models, examples, requests, tokens, estimated cost) is shown on stderr and confirmed before any request
(`--yes` skips the question; a non-interactive shell must pass it); the report goes to stdout or `-o OUT`. Running
the same command again resumes an interrupted evaluation. Exit codes: 0 done, 1 done but some examples have no
answer, 2 refused or failed (one sentence).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..fileio import atomic_write_text
from .common import UsageError, note, write_output

FORMATS = ("text", "json", "html")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="compare a tuned model with its base model on held-out examples",
        description="Send each held-out example's prompt to the tuned and the base model, score both answers "
        "against the reference (exact and normalised match, JSON, tool calls, length, refusals, tokens), and "
        "store the results in the run's folder. The cost is shown and confirmed first.",
    )
    p.add_argument(
        "target", metavar="RUN_ID|MODEL", help="a run started here (id, prefix, suffix or 'last'), or a model name"
    )
    p.add_argument("--on", metavar="FILE", help="the held-out JSONL file (default: the run's validation examples)")
    p.add_argument("--base", metavar="MODEL", help="the model to compare with (default: the run's base model)")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N examples")
    p.add_argument("--judge", metavar="MODEL", help="also ask MODEL which answer is better (pairwise, both orders)")
    p.add_argument("--judge-backend", metavar="NAME", help="the provider serving the judge (default: from its name)")
    p.add_argument("--backend", metavar="NAME", help="the provider serving MODEL (default: from its name)")
    p.add_argument("--format", choices=FORMATS, default="text", help="the report's format (default text)")
    p.add_argument("-o", "--output", metavar="OUT", help="write the report to OUT instead of standard output")
    p.add_argument("--yes", "-y", action="store_true", help="start without asking")
    p.add_argument("--dry-run", action="store_true", help="show the plan and the estimated cost, send nothing")
    p.add_argument("--show", action="store_true", help="show the newest stored evaluation; send nothing")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming an unfinished evaluation")
    p.add_argument(
        "--max-tokens",
        type=int,
        metavar="N",
        help="longest answer, in tokens (default 512; local: the run's max_new_tokens)",
    )
    p.add_argument("--seed", type=int, default=42, help="sent with every request, and seeds local generation")
    p.add_argument("--concurrency", type=int, default=4, metavar="N", help="requests in flight at once (default 4)")
    p.add_argument(
        "--price", metavar="IN,OUT", help="USD per 1M input and output tokens, for models without a known price"
    )
    p.add_argument("--judge-price", metavar="IN,OUT", help="the same for the judge model")
    p.add_argument("--device", help="local runs: cpu, cuda or cuda:N (default: the run's)")
    p.add_argument("--runs-dir", help="where runs are recorded (default <project>/.tuneline/runs)")
    p.set_defaults(func=cmd_eval)


def _request(args: argparse.Namespace):
    from ..training.evaluate.plan import EvalRequest
    from ..training.evaluate.prices import parse_price

    try:
        price = parse_price(args.price) if args.price else None
        judge_price = parse_price(args.judge_price) if args.judge_price else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return EvalRequest(
        target=args.target,
        on=Path(args.on) if args.on else None,
        base=args.base,
        limit=args.limit,
        judge=args.judge,
        judge_backend=args.judge_backend,
        backend=args.backend,
        max_tokens=args.max_tokens,
        seed=args.seed,
        concurrency=args.concurrency,
        price=price,
        judge_price=judge_price,
        device=args.device,
        runs_dir=args.runs_dir,
        fresh=args.fresh,
    )


def plan_text(plan) -> str:
    """The plan shown before anything is sent."""
    from ..training.evaluate.report import printable

    spec, est = plan.spec, plan.estimate
    rows = []
    if spec["target"]["run"]:
        rows.append(("Run", f"{spec['target']['run']} ({spec['backend']})"))
    else:
        rows.append(("Backend", spec["backend"]))
    rows.append(("Tuned model", spec["model"]))
    rows.append(("Base model", spec["base"] + (" (adapter switched off)" if spec["backend"] == "local" else "")))
    if spec.get("judge"):
        rows.append(("Judge", f"{spec['judge']['model']} ({spec['judge']['backend']}), each example in both orders"))
    held = plan.held_out
    rows.append(("Held-out file", f"{held.path} ({len(held.items)} examples)"))
    by_role = {line.role: line for line in est.lines}
    answers = sum(line.requests for line in est.lines if line.role != "judge")
    judge = by_role.get("judge")
    rows.append(("Requests", f"{answers} answers" + (f" + {judge.requests} judge verdicts" if judge else "")))
    tokens_in = sum(line.tokens_in for line in est.lines)
    tokens_out = sum(line.tokens_out for line in est.lines)
    tokens_max = sum(line.tokens_out_max for line in est.lines)
    rows.append(("Tokens", f"~{tokens_in:,} in, ~{tokens_out:,} out (at most {tokens_max:,} out)"))
    if spec["backend"] != "local" or judge:
        parts = [
            f"{line.role} {'?' if line.usd is None else f'${line.usd:,.4f}'}" for line in est.lines if line.requests
        ]
        rows.append(("Estimated cost", f"{est.cost_text()}" + (f"  [{', '.join(parts)}]" if parts else "")))
    out = ["Evaluation plan"] + [f"  {k:<16}  {v}" for k, v in rows]
    out += [f"  note: {n}" for n in plan.notes]
    return "\n".join(printable(line) for line in out) + "\n"


def _confirm(plan, args: argparse.Namespace) -> bool:
    if args.yes or not plan.needs_confirmation:
        return True
    question = f"Run this evaluation ({plan.estimate.requests} requests, estimated cost {plan.estimate.cost_text()})?"
    if not sys.stdin.isatty():
        raise UsageError(
            f"this evaluation sends {plan.estimate.requests} requests (estimated cost "
            f"{plan.estimate.cost_text()}): pass --yes to run it without a question"
        )
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return input().strip().lower() in ("y", "yes")


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r  answered {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _emit(contract: dict, args: argparse.Namespace) -> None:
    from ..training.evaluate import report

    if args.format == "json":
        import json

        text = json.dumps(contract, indent=2, ensure_ascii=False) + "\n"
    elif args.format == "html":
        text = report.render_html(contract)
    else:
        text = report.render_text(contract)
    if args.output:
        try:
            atomic_write_text(Path(args.output), text)
        except OSError as exc:
            raise UsageError(f"{args.output}: cannot write the report ({exc.strerror or exc})") from None
        note(f"report written to {args.output}")
        return
    write_output(text, machine=args.format != "text")


def _show(args: argparse.Namespace) -> int:
    from ..training.evaluate import store
    from ..training.evaluate.plan import EvalError
    from ..training.evaluate.show import latest_contract

    try:
        contract = latest_contract(_request(args))
    except (EvalError, store.StoreError) as exc:
        raise UsageError(str(exc)) from None
    _emit(contract, args)
    return 0 if contract["complete"] else 1


def cmd_eval(args: argparse.Namespace) -> int:
    from ..training.evaluate import runner
    from ..training.evaluate.plan import EvalError, make_plan, prepare
    from ..training.processes import safe_children

    if args.show:
        return _show(args)
    safe_children()
    try:
        plan = make_plan(_request(args))
    except EvalError as exc:
        raise UsageError(str(exc)) from None
    sys.stderr.write(plan_text(plan))
    if args.dry_run:
        sys.stderr.write("Dry run: nothing was sent.\n")
        return 0
    if not _confirm(plan, args):
        sys.stderr.write("Not started.\n")
        return 1
    try:
        folder = prepare(plan)
        contract = runner.run(folder, progress=_progress, note=note)
    except EvalError as exc:
        raise UsageError(str(exc)) from None
    except runner.Interrupted as exc:
        print(f"tuneline: {exc}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # Requests still in flight would hold the exit until they time out; every answer so far is on disk.
        os._exit(130)
    _emit(contract, args)
    return 0 if contract["complete"] else 1
