"""A run's examples turned into what TRL trains on, with the loss mask decided here rather than inside TRL;
`prepare` is the whole pipeline, from the files (read by examples.py) to the rows of the trainer's datasets.

Why tokenize here: OpenAI's `weight: 0` (do not train on this assistant turn) has no TRL equivalent, TRL truncates
over-long examples without a word, and it refuses chat templates without `{% generation %}` markers. Building
`input_ids` + `labels` ourselves lets one pass count tokens for the warnings, mask weight-0 turns, and mask the
prompt even when the template has no markers (by rendering the conversation prefix by prefix). SFTTrainer keeps a
dataset that already has `labels` as it is and still truncates and packs it.

Preference data goes to TRL's DPOTrainer as `prompt` / `chosen` / `rejected` (conversational when the file is).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base import BackendError
from .examples import Example, method_for, read_examples, split_examples

if TYPE_CHECKING:
    from .run_config import LocalConfig

_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")

# ChatML with generation markers: what `chat_template = "chatml"` selects. Only the assistant reply and its end
# marker are inside {% generation %}, so assistant-only loss trains exactly what the model must produce.
CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
BUILTIN_TEMPLATES = {"chatml": CHATML_TEMPLATE}


# -- chat templates ------------------------------------------------------------------------------------------------


def has_generation_markers(template: str | None) -> bool:
    return bool(template and _GENERATION.search(template))


def load_template(value: str) -> str:
    """The `chat_template` setting: a built-in name ("chatml"), a .jinja file, or the template text itself."""
    if value in BUILTIN_TEMPLATES:
        return BUILTIN_TEMPLATES[value]
    if "{%" in value or "{{" in value:
        return value
    path = Path(value).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        raise BackendError(
            f"chat_template {value!r} is neither a file, template text nor one of: {', '.join(BUILTIN_TEMPLATES)}"
        ) from None


# -- tokenizing for SFT -------------------------------------------------------------------------------------------


@dataclass
class Tokenized:
    rows: list[dict[str, list[int]]]  # input_ids, labels (-100 = no loss), for the examples that train
    lengths: list[int]  # tokens of every example, dropped ones too (the length warning names them all)
    masking: str  # "markers" | "prefixes" | "completion" | "none" | "mixed"
    unmasked: list[int] = field(default_factory=list)  # lines whose prompt could not be told apart (full loss)
    dropped: list[int] = field(default_factory=list)  # lines left with nothing to train on (all weight 0)

    @property
    def tokens(self) -> int:
        """Tokens in the rows that train (dropped examples are not counted: they never reach the model)."""
        return sum(len(row["input_ids"]) for row in self.rows)


def tokenize_sft(
    examples: Sequence[Example], tokenizer: Any, assistant_only_loss: bool = True, labels: bool = True
) -> Tokenized:
    """Token ids and labels for each example. The labels leave out prompts (when asked) and weight-0 turns.

    `labels=False`: the ids alone, every token kept, for counting what a hosted provider feeds the model (one render
    per conversation, without the prefix renders that find the answers); the ids are the same either way."""
    template = getattr(tokenizer, "chat_template", None)
    marked = has_generation_markers(template)
    rows, lengths, unmasked, dropped = [], [], [], []
    ways: set[str] = set()
    for ex in examples:
        if ex.format == "chat" and not template:
            raise BackendError(
                "the model's tokenizer has no chat template; set chat_template in the config "
                '(a .jinja file, or "chatml" for tuneline\'s marked ChatML template)'
            )
        try:
            ids, keep, way = _example_ids(ex, tokenizer, marked, assistant_only_loss, labels)
        except BackendError:
            raise
        except Exception as exc:  # the model folder's template and tokenizer are its code, and they refuse lines
            # in their own ways (a template's raise_exception, a ValueError for a role it does not know, a
            # TypeError for a lone surrogate): one sentence naming the line, never a traceback
            raise BackendError(f"line {ex.line}: the model's tokenizer or chat template refuses it: {exc}") from None
        if way == "unmasked":
            unmasked.append(ex.line)
        ways.add(way)
        lengths.append(len(ids))
        if not any(keep):
            dropped.append(ex.line)
            continue
        rows.append({"input_ids": list(ids), "labels": [t if k else -100 for t, k in zip(ids, keep)]})
    ways.discard("unmasked")
    masking = ways.pop() if len(ways) == 1 else ("mixed" if ways else "none")
    return Tokenized(rows, lengths, masking, unmasked, dropped)


def _example_ids(
    ex: Example, tokenizer: Any, marked: bool, assistant_only_loss: bool, labels: bool
) -> tuple[list[int], list[bool], str]:
    """One example's token ids, which of them carry a loss, and how its prompt was told apart."""
    if ex.format == "chat":
        if labels:
            return _chat_labels(ex, tokenizer, marked, assistant_only_loss)
        ids = _chat_ids(ex, tokenizer)
        return ids, [True] * len(ids), "none"
    if ex.format == "prompt-completion":
        return _completion_labels(ex, tokenizer, assistant_only_loss)
    ids = tokenizer(_with_eos(ex.row["text"], tokenizer))["input_ids"]
    return ids, [True] * len(ids), "none"


def _with_eos(text: str, tokenizer: Any) -> str:
    eos = tokenizer.eos_token or ""
    return text if not eos or text.endswith(eos) else text + eos


def _completion_labels(ex: Example, tokenizer: Any, completion_only: bool) -> tuple[list[int], list[bool], str]:
    prompt_ids = tokenizer(ex.row["prompt"])["input_ids"]
    ids = tokenizer(_with_eos(ex.row["prompt"] + ex.row["completion"], tokenizer))["input_ids"]
    if not completion_only:
        return ids, [True] * len(ids), "none"
    start = 0
    while start < min(len(ids), len(prompt_ids)) and ids[start] == prompt_ids[start]:
        start += 1
    return ids, [i >= start for i in range(len(ids))], "completion"


def _render(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=generation_prompt)


def _chat_ids(ex: Example, tokenizer: Any) -> list[int]:
    """The conversation's ids through the chat template: what `apply_chat_template(tokenize=True)` gives (it
    tokenizes the rendered text without adding special tokens, which the template writes itself)."""
    text = _render(tokenizer, ex.row["messages"], ex.row.get("tools"), False)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _chat_labels(ex: Example, tokenizer: Any, marked: bool, assistant_only: bool) -> tuple[list[int], list[bool], str]:
    messages, tools = ex.row["messages"], ex.row.get("tools")
    weights = ex.weights or [1] * len(messages)
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if marked:
        out = tokenizer.apply_chat_template(
            messages, tools=tools, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
        runs = _runs(mask)
        if len(runs) == len(turns):  # one marked span per assistant message: weights map onto them in order
            keep = [bool(b) for b in mask] if assistant_only else [True] * len(ids)
            for (start, end), index in zip(runs, turns):
                if weights[index] == 0:
                    keep[start:end] = [False] * (end - start)
            return ids, keep, "markers"
    text = _render(tokenizer, messages, tools, False)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    spans = _assistant_spans(tokenizer, messages, tools, text, turns)
    if spans is None:
        # The template renders a shorter conversation differently (e.g. it rewrites earlier turns): the turns
        # cannot be told apart, so the whole example is trained on, and the caller warns.
        return ids, [True] * len(ids), "unmasked"
    trained = [s for s, index in zip(spans, turns) if weights[index] == 1]
    skipped = [s for s, index in zip(spans, turns) if weights[index] == 0]
    keep = []
    for start, _end in offsets:
        inside = any(s <= start < e for s, e in trained)
        if assistant_only:
            keep.append(inside)
        else:
            keep.append(not any(s <= start < e for s, e in skipped))
    return ids, keep, "prefixes"


def _runs(mask: Sequence[int]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, bit in enumerate([*mask, 0]):
        if bit and start is None:
            start = i
        elif not bit and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _assistant_spans(
    tokenizer: Any, messages: list[dict[str, Any]], tools: Any, full: str, turns: list[int]
) -> list[tuple[int, int]] | None:
    """Character spans of each assistant turn in `full`: the text that rendering turn i adds to the conversation
    before it (with the generation prompt). None when the rendering is not prefix-stable."""
    spans = []
    for i in turns:
        try:
            before = _render(tokenizer, messages[:i], tools, True) if i else _render(tokenizer, [], tools, True)
            upto = _render(tokenizer, messages[: i + 1], tools, False)
        except Exception:  # templates raise on shapes they dislike (e.g. a conversation not starting with a user)
            return None
        if not upto.startswith(before) or not full.startswith(upto) or len(upto) == len(before):
            return None
        spans.append((len(before), len(upto)))
    return spans


# -- preference data -----------------------------------------------------------------------------------------------


def preference_lengths(examples: Sequence[Example], tokenizer: Any) -> list[int]:
    """Tokens of prompt + the longer answer per pair: what DPOTrainer truncates at max_length."""
    out = []
    for ex in examples:
        row = ex.row
        longest = 0
        for side in ("chosen", "rejected"):
            if isinstance(row["prompt"], str):
                ids = tokenizer(row["prompt"] + row[side])["input_ids"]
            else:
                text = _render(tokenizer, row["prompt"] + row[side], None, False)
                ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            longest = max(longest, len(ids))
        out.append(longest)
    return out


# -- warnings shown before training -------------------------------------------------------------------------------


def length_warning(lengths: Sequence[int], lines: Sequence[int], max_length: int) -> str | None:
    over = [(line, n) for line, n in zip(lines, lengths) if n > max_length]
    if not over:
        return None
    shown = ", ".join(str(line) for line, _ in over[:5]) + (", …" if len(over) > 5 else "")
    longest = max(n for _, n in over)
    return (
        f"{len(over)} of {len(lengths)} examples are longer than max_length {max_length} tokens "
        f"(longest {longest}; lines {shown}); TRL cuts them off silently: raise max_length or shorten them"
    )


def masking_warning(tokenized: Tokenized, template_marked: bool, assistant_only: bool) -> list[str]:
    out = []
    if assistant_only and not template_marked and tokenized.masking in ("prefixes", "mixed"):
        out.append(
            "the chat template has no {% generation %} markers, so TRL alone could not mask the prompt; tuneline "
            "found the assistant turns by rendering each conversation prefix; to be exact, supply a marked copy "
            'of the template as chat_template (a .jinja file, or "chatml")'
        )
    if tokenized.unmasked:
        shown = ", ".join(map(str, tokenized.unmasked[:5])) + (", …" if len(tokenized.unmasked) > 5 else "")
        out.append(
            f"{len(tokenized.unmasked)} examples (lines {shown}) train on the whole conversation: the chat template "
            "renders them in a way that hides where the assistant turns are; supply a template with "
            "{% generation %} markers as chat_template"
        )
    if tokenized.dropped:
        shown = ", ".join(map(str, tokenized.dropped[:5])) + (", …" if len(tokenized.dropped) > 5 else "")
        out.append(f"{len(tokenized.dropped)} examples (lines {shown}) have only weight-0 answers and are skipped")
    return out


# -- the one pipeline ---------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """The data exactly as the trainer gets it, and the numbers and warnings the pre-flight shows about it."""

    method: str  # "sft" | "dpo"
    train: list[Example]
    held: list[Example]  # the held-out examples (the evaluation prompts come from these)
    train_rows: list[dict[str, Any]]  # the training dataset's rows
    held_rows: list[dict[str, Any]]  # the evaluation dataset's rows
    tokens: int  # in train_rows: what one epoch trains on
    warnings: list[str] = field(default_factory=list)


def prepare(cfg: LocalConfig, tokenizer: Any, train_file: Path, validation_file: Path | None = None) -> Prepared:
    """Read, check, split and tokenize the run's files. The pre-flight and the trainer both call this, so the
    plan's method, counts and warnings describe the very rows that train; one bad line raises one sentence."""
    examples = read_examples(train_file)
    validation = read_examples(validation_file) if validation_file else None
    method = method_for(examples, cfg.method)
    if validation is not None:
        method_for(validation, method)
    train, held = split_examples(examples, cfg.eval_split, cfg.seed, validation)
    warnings: list[str] = []
    if method == "sft":
        tokenized = tokenize_sft(train, tokenizer, cfg.assistant_only_loss)
        if not tokenized.rows:
            raise BackendError("no example is left to train on (every answer has weight 0)")
        held_rows = tokenize_sft(held, tokenizer, cfg.assistant_only_loss).rows if held else []
        train_rows, lengths, tokens = tokenized.rows, tokenized.lengths, tokenized.tokens
        marked = has_generation_markers(getattr(tokenizer, "chat_template", None))
        warnings += masking_warning(tokenized, marked, cfg.assistant_only_loss)
    else:
        train_rows, held_rows = [e.row for e in train], [e.row for e in held]
        lengths = preference_lengths(train, tokenizer)
        tokens = sum(lengths)
    too_long = length_warning(lengths, [e.line for e in train], cfg.max_length)
    if too_long:
        warnings.insert(0, too_long)
    if not held_rows:
        warnings.append(
            "no held-out examples: there will be no evaluation loss (set eval_split or add a validation file)"
        )
    return Prepared(method, train, held, train_rows, held_rows, tokens, warnings)
