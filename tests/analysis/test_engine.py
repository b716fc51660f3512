"""File-level rules, and the promise the editor depends on: incremental updates equal a fresh analysis."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuneline.analysis import Dataset, Engine, Severity
from tuneline.analysis.config import Settings
from tuneline.analysis.rules.system_prompts import SystemPrompts

from .helpers import chat, codes, engine, findings, ok_line

SYSTEM = "You are Nimbus."


def conversation(i: int, system: str | None = SYSTEM, answer: str | None = None) -> str:
    return chat(
        ("user", f"Question {i}: how do I do thing {i}?"), ("assistant", answer or f"Do it like {i}."), system=system
    )


def base(n: int = 60) -> list[str]:
    return [conversation(i) for i in range(n)]


def test_clean_file_has_no_findings():
    assert findings(base()) == []


def test_tl301_duplicates_point_at_first_copy_and_ignore_whitespace():
    lines = base()
    lines.append(lines[3].replace('", "', '",   "'))
    lines.append(lines[3])
    found = [f for f in findings(lines) if f.code == "TL301"]
    assert [f.line for f in found] == [60, 61]
    assert all(f.related[0].line == 3 for f in found)
    assert found[0].fix.delete_line and found[0].fix.safe


def test_tl308_conflicting_answers():
    lines = base()
    lines.append(conversation(5, answer="A different answer."))
    (f,) = [f for f in findings(lines) if f.code == "TL308"]
    assert f.line == 60 and f.related[0].line == 5


def test_tl305_missing_system_prompt_has_an_insert_fix():
    lines = base()
    lines[10] = conversation(10, system=None)
    found = [f for f in findings(lines) if f.code == "TL305"]
    file_level = [f for f in found if f.line is None]
    (line_level,) = [f for f in found if f.line is not None]
    assert file_level and line_level.line == 10
    edit = line_level.fix.edits[0]
    fixed = lines[10][: edit.span.start] + edit.text + lines[10][edit.span.end :]
    assert json.loads(fixed)["messages"][0] == {"role": "system", "content": SYSTEM}
    assert json.loads(fixed)["messages"][1:] == json.loads(lines[10])["messages"]


def test_tl305_no_per_line_noise_without_a_clear_convention():
    lines = [conversation(i, system=f"Persona {i % 3}") for i in range(60)]
    found = [f for f in findings(lines) if f.code == "TL305"]
    assert len(found) == 1 and found[0].line is None


def test_tl101_mixed_format_with_conversion_fix():
    lines = base()
    lines.append(json.dumps({"instruction": "Translate", "input": "Hello", "output": "Hallo"}))
    (f,) = [f for f in findings(lines) if f.code == "TL101"]
    assert f.line == 60 and "alpaca" in f.message
    converted = json.loads(f.fix.edits[0].text)
    assert converted == {
        "messages": [{"role": "user", "content": "Translate\n\nHello"}, {"role": "assistant", "content": "Hallo"}]
    }


def test_the_conversion_fix_is_not_offered_when_it_would_drop_tools():
    """A sharegpt line whose `tools` is a string that is not JSON (or holds something other than tool objects)
    cannot become a chat line without losing it: TL101 stays, without the fix."""
    convo = [{"from": "human", "value": "Weather?"}, {"from": "gpt", "value": "Sunny."}]
    for tools in ('[{"name": "get_weather"', "[1, 2]"):
        lines = [*base(), json.dumps({"conversations": convo, "tools": tools})]
        (f,) = [f for f in findings(lines) if f.code == "TL101"]
        assert f.line == 60 and f.fix is None, tools
    lines = [*base(), json.dumps({"conversations": convo, "tools": '[{"name": "get_weather"}]'})]
    (f,) = [f for f in findings(lines) if f.code == "TL101"]
    converted = json.loads(f.fix.edits[0].text)
    assert converted["tools"] == [{"type": "function", "function": {"name": "get_weather"}}]


def test_tl102_unknown_line_in_chat_file():
    lines = [*base(), json.dumps({"msgs": []})]
    assert [f.line for f in findings(lines) if f.code == "TL102"] == [60]


def test_counts_tl303_tl304():
    assert "TL303" in codes(findings(base(5)))
    assert "TL304" in codes(findings(base(20)))
    assert not {"TL303", "TL304"} & set(codes(findings(base(60))))


def test_tl202_length_outlier_and_tl203_answer_spread():
    lines = base()
    lines[7] = conversation(7, answer="long " * 2000)
    found = findings(lines)
    assert [f.line for f in found if f.code == "TL202"] == [7]
    spread = [conversation(i, answer="x " * (2 if i % 2 else 400)) for i in range(60)]
    assert "TL203" in codes(findings(spread))


def test_tl005_json_array_file_is_one_finding():
    lines = ["[", '  {"messages": []},', '  {"messages": []}', "]"]
    assert codes(findings(lines)) == ["TL005"]


def test_tl204_shut_down_model():
    assert "TL204" in codes(findings(base(), model="gpt-4.1-nano-2025-04-14"))
    assert "TL204" not in codes(findings(base(), model="gpt-4o-mini"))


def test_select_ignore_and_severity_overrides():
    lines = [*base(), base()[0]]
    assert "TL301" not in codes(findings(lines, ignore=["duplicate-example"]))
    assert codes(findings(lines, select=["TL3"])) == ["TL301"]
    (f,) = findings(lines, select=["TL301"], severity={"TL301": "error"})
    assert f.severity.name == "ERROR"


def test_summary_numbers():
    ds = Dataset(engine(epochs=2), base())
    s = ds.summary()
    assert s.examples == 60 and s.format == "chat"
    assert s.tokens_total == sum(ds.result(i).tokens for i in range(60))
    assert s.cost.epochs == 2 and s.cost.billed_tokens == 2 * s.tokens_total
    assert s.cost.usd == round(2 * s.tokens_total * 3.0 / 1e6, 4)
    assert sum(count for _, count in s.histogram) == 60


def test_summary_auto_epochs_follow_openai_heuristic():
    assert Dataset(engine(), base(10)).summary().cost.epochs == 10
    assert Dataset(engine(), base(60)).summary().cost.epochs == 3


# --- incremental == fresh ------------------------------------------------------------------------------------

LINE_POOL = [
    *(conversation(i) for i in range(8)),
    conversation(1),  # duplicate
    conversation(2, answer="other"),  # conflict
    conversation(3, system=None),  # missing system prompt
    json.dumps({"prompt": "p", "completion": "c"}),  # other format
    "",
    "{broken",
    chat(("user", "x"), ("assitant", "y")),
    conversation(4, answer="very long " * 300),
]


def _as_tuples(found):
    return [(f.code, f.line, f.span, f.message, f.related, f.severity, f.fix) for f in found]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.lists(st.sampled_from(LINE_POOL), min_size=0, max_size=30),
    edits=st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 5), st.lists(st.sampled_from(LINE_POOL), max_size=4)),
        max_size=12,
    ),
)
def test_incremental_splices_equal_a_fresh_analysis(start, edits):
    eng = engine()
    ds = Dataset(eng, start)
    lines = list(start)
    for at, length, new in edits:
        at = min(at, len(lines))
        end = min(at + length, len(lines))
        ds.splice(at, end, new)
        lines[at:end] = new
        # as an editor asks after each edit (the slot-to-line map is then kept up to date in place, and findings
        # the edit did not touch come back as the same objects), with and without the editor's bound per code
        ds.findings()
        ds.findings(per_code=2)
    fresh = Dataset(eng, lines)
    assert _as_tuples(ds.findings()) == _as_tuples(fresh.findings())
    assert _as_tuples(ds.findings(per_code=2)) == _as_tuples(Dataset(eng, lines).findings(per_code=2))
    a, b = ds.summary(), fresh.summary()
    assert (a.examples, a.tokens_total, a.tokens_p50, a.tokens_p95, a.billed_per_epoch) == (
        b.examples,
        b.tokens_total,
        b.tokens_p50,
        b.tokens_p95,
        b.billed_per_epoch,
    )


def test_one_line_edit_reanalyses_one_line():
    eng = Engine(Settings())  # its own: the shared `engine()` would keep the counting wrapper for later tests
    ds = Dataset(eng, [ok_line(i) for i in range(2000)])
    calls = []
    original = eng.analyze_line
    eng.analyze_line = lambda text, value=None: calls.append(text) or original(text, value)  # type: ignore[method-assign]
    ds.splice(100, 101, [ok_line(100).replace("Answer", "Reply")])
    assert len(calls) == 1


def test_external_findings_follow_line_insertions_and_deletions():
    from tuneline.analysis import Finding, Related, Span

    ds = Dataset(engine(), base())
    ds.set_external("near", [Finding("TL302", "near 10", 20, Span(0, 5), related=(Related(10, "first"),))])
    ds.splice(0, 0, [conversation(100), conversation(101)])  # two lines above: both move down
    (f,) = [f for f in ds.findings() if f.code == "TL302"]
    assert (f.line, f.related[0].line) == (22, 12)
    ds.splice(12, 13, [])  # the related line is deleted: the finding goes until the pass recomputes it
    assert [f for f in ds.findings() if f.code == "TL302"] == []


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    anchors=st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)), min_size=1, max_size=6),
    edits=st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 4), st.integers(0, 4), st.booleans()), min_size=1, max_size=40
    ),
    log_max=st.sampled_from([2, 256]),
)
def test_external_findings_stay_on_their_lines_through_any_splices(anchors, edits, log_max):
    """Each external finding (and its related line) ends where its line went, and goes when either is replaced,
    whether findings are asked for after every edit or after many (the line map's move log, and past its end)."""
    from tuneline.analysis import Finding, Related, Span, line_map

    line_map._LOG_MAX, saved = log_max, line_map._LOG_MAX
    try:
        lines = [conversation(i) for i in range(30)]
        ds = Dataset(engine(), lines)
        ids = list(range(30))  # what each line is: a replaced line gets a new id
        found = [
            Finding("TL302", f"near {a}", a, Span(0, 1), related=(Related(b, "first"), Related(7, "other", None, "o")))
            for a, b in anchors
        ]
        ds.set_external("near", found)
        fresh = 1000
        for at, length, count, ask in edits:
            at = min(at, len(ids))
            end = min(at + length, len(ids))
            ds.splice(at, end, [conversation(fresh + k) for k in range(count)])
            ids[at:end] = range(fresh, fresh + count)
            fresh += count
            if ask:
                ds.findings()
        expected = sorted(
            (ids.index(a), ids.index(b))
            for a, b in anchors
            if a in ids and b in ids  # neither its line nor its related line was replaced
        )
        got = [f for f in ds.findings() if f.code == "TL302"]
        assert sorted((f.line, f.related[0].line) for f in got) == expected
        assert all(f.related[1] == Related(7, "other", None, "o") for f in got)  # another file's line stays
    finally:
        line_map._LOG_MAX = saved


_INSTRUCTION = "You are a storyteller for children. Continue the story below in two gentle sentences. Story: "
# System prompts for TL305's state: the common one, none, a family (one instruction, per-example context) with more
# members than the other prompts' examples or fewer, two prompts that open alike but differ, and one-off prompts.
PROMPT_POOL = [
    SYSTEM,
    SYSTEM,
    None,
    *(_INSTRUCTION + f"Tale {i} of a fox." for i in range(5)),
    _INSTRUCTION + "Tale 1 of a fox.",
    "You are a helpful assistant that answers questions about cooking and recipes.",
    "You are a helpful assistant that answers questions about travel and hotels.",
    "Be brief.",
    "Be kind.",
    # three that open alike for more than 40 characters, but part mid-word: no shared instruction
    *(f"You are the helpful assistant of the compan{rest}" for rest in ("y Acme.", "ion app.", "ies list.")),
]


def _prompt_state(ds: Dataset) -> tuple:
    """TL305's kept state, comparable: each start's members and count (a lone prompt is kept as itself, its count
    read from the prompt's slots), the candidates, and how many examples use each prompt (slots differ after edits)."""
    (rule,) = (r for r in ds.rules if isinstance(r, SystemPrompts))
    starts = {}
    for key, start in rule._starts.items():
        if isinstance(start, str):
            starts[key] = ({start}, rule._systems.count(start))
        else:
            assert len(start.members) >= 2  # a start of one prompt is kept as that prompt
            assert start.count == sum(rule._systems.count(m) for m in start.members)
            starts[key] = (start.members, start.count)
    systems = {p: len(slots) for p, slots in rule._systems.items()}
    assert all(rule._systems.count(prompt) for prompt in rule._prompt_of.values())
    assert sum(systems.values()) == len(rule._prompt_of)
    return starts, rule._candidates, systems


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.lists(st.sampled_from(PROMPT_POOL), max_size=24),
    edits=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 3), st.lists(st.sampled_from(PROMPT_POOL), max_size=3)),
        max_size=14,
    ),
    per_code=st.integers(1, 6),
)
def test_system_prompt_state_kept_through_edits_equals_a_fresh_analysis(start, edits, per_code):
    """TL305 keeps its most common prompt, its families and their instructions up to date as lines come and go
    (and hands out an unchanged line finding as the same object): after any edits its report, with and without
    the editor's bound, is a fresh analysis's."""
    eng = engine(select=["TL305"])
    prompts = list(start)
    ds = Dataset(eng, [conversation(i, system=p) for i, p in enumerate(prompts)])
    for at, length, new in edits:
        at = min(at, len(prompts))
        end = min(at + length, len(prompts))
        prompts[at:end] = new
        ds.splice(at, end, [conversation(at + k, system=p) for k, p in enumerate(new)])
        ds.findings(per_code=per_code)
    fresh = Dataset(eng, list(ds.texts))
    assert _as_tuples(ds.findings()) == _as_tuples(fresh.findings())
    assert _as_tuples(ds.findings(per_code=per_code)) == _as_tuples(fresh.findings(per_code=per_code))
    assert _prompt_state(ds) == _prompt_state(fresh)
    again = ds.findings(per_code=per_code)
    assert all(a is b for a, b in zip(again, ds.findings(per_code=per_code)) if a.line is not None)


def _spaced_answers() -> list[str]:
    """Answers that end in a space (a line finding), inside a code block or with unfilled placeholders (file-level
    rules' candidates, the placeholders two in one line)."""
    out = []
    for i in range(40):
        answer = f"Answer number {i} is here " if i % 2 else f"Run this:\n```python\nprint({i})"
        messages = [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": answer}]
        if i % 3 == 0:
            messages += [{"role": "user", "content": "And?"}, {"role": "assistant", "content": answer + "\nx = 1"}]
        out.append(json.dumps({"messages": messages}))
        placeholders = f"Dear {{name}}, order {i} ships on {{date}}."  # two of the placeholder rule's in one line
        out.append(
            json.dumps(
                {"messages": [{"role": "user", "content": f"Q{i}?"}, {"role": "assistant", "content": placeholders}]}
            )
        )
    return out


def _bounded_cases(kind: str) -> tuple[list[str], dict]:
    """Files (and settings) where the editor's bound could part from the full report."""
    if kind == "line codes":
        return [*LINE_POOL * 4, *(chat(("user", f"q{i}"), ("assitant", "y")) for i in range(9))], {}
    if kind == "file-level candidates":
        return _spaced_answers(), {}
    if kind == "a turned-off file-level code":  # no note for a code the user ignores
        return _spaced_answers(), {"ignore": ["TL501"]}
    if kind == "few file-level candidates":  # fewer than one line in SPARSE: their lines are placed, not walked
        spaced = _spaced_answers()
        return [*(conversation(i) for i in range(90)), spaced[1], spaced[2], spaced[3], spaced[5]], {}
    if kind.startswith("odd answers"):  # TL507: prose among JSON answers, few (placed) or many (walked)
        every = 23 if kind.endswith("few") else 7
        return [
            conversation(i, answer=f"Plain words {i}." if i % every == 3 else json.dumps({"answer": i, "ok": True}))
            for i in range(70)
        ], {}
    if kind == "few copies and conflicts":  # TL301/TL308 on fewer than one line in SPARSE: placed, not walked
        lines = [conversation(i) for i in range(70)]
        return [*lines, lines[3], lines[9], lines[3], conversation(5, answer="Another.")], {}
    if kind == "other formats, one code turned off":  # TL101 reported under the bound, TL102 not counted at all
        other = json.dumps({"prompt": "p", "completion": "c"})
        return [conversation(i) if i % 4 else other if i % 8 else "{}" for i in range(60)], {"ignore": ["TL102"]}
    if kind == "system prompts":  # TL305: lines without the common prompt, placed (few) or walked (many)
        return [conversation(i, system=None if i % 3 == 0 or i > 50 else SYSTEM) for i in range(60)], {}
    if kind == "a prompt family":  # TL305 with per-example context and other prompts held to its instruction
        return [conversation(i, system=_INSTRUCTION + f"Tale {i}." if i % 4 else f"Be {i}.") for i in range(40)], {}
    if kind == "multi-line records":  # TL006 keeps its own few parse errors: no note counting the hidden ones
        records = []
        for i in range(30):
            example = {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a."}]}
            records += json.dumps(example, indent=2).split("\n")
        return records, {}
    # two of a code in one line, out of position order in the line's findings (keys before `input`)
    spaced = {"role": "system", "content": "Sys. "}
    odd = {
        "preferred_output": [{"role": "assistant", "content": "Yes. "}],
        "non_preferred_output": [{"role": "assistant", "content": "No."}],
        "input": {"messages": [spaced, {"role": "user", "content": "Q?"}]},
    }
    plain = [
        {
            "input": {"messages": [{"role": "user", "content": f"Q{i}?"}]},
            "preferred_output": [{"role": "assistant", "content": f"Yes {i}. "}],
            "non_preferred_output": [{"role": "assistant", "content": "No."}],
        }
        for i in range(4)
    ]
    return [json.dumps(x) for x in (plain[0], odd, *plain[1:], odd)], {}


@pytest.mark.parametrize("per_code", [1, 2, 5, 100])
@pytest.mark.parametrize(
    "kind",
    [
        "line codes",
        "file-level candidates",
        "a turned-off file-level code",
        "multi-line records",
        "order in a line",
        "few file-level candidates",
        "few copies and conflicts",
        "other formats, one code turned off",
        "odd answers, few",
        "odd answers, many",
        "system prompts",
        "a prompt family",
    ],
)
def test_findings_per_code_are_the_first_of_each_code_and_a_note_with_the_rest(per_code, kind):
    """The editor's bound (`findings(per_code=...)`): exactly the full report's first `per_code` findings of each
    code, in the same order, plus one note per code that had more, counting them — whether the lines are walked in
    order (more lines with findings than the bound; a file-level rule with many candidates does the same) or the
    full report is cut."""
    from collections import Counter

    from tuneline.analysis.config import Settings

    lines, overrides = _bounded_cases(kind)
    ds = Dataset(Engine(Settings().merged(overrides)), lines)
    full = ds.findings()
    dropped: Counter[str] = Counter()
    capped = ds.findings(per_code=per_code, dropped=dropped)
    notes = [f for f in capped if f.line is None and "the editor shows" in f.message]
    kept = [f for f in capped if f not in notes]
    seen: Counter[str] = Counter()
    expected = []
    for f in full:
        seen[f.code] += 1
        if seen[f.code] <= per_code:
            expected.append(f)
    assert _as_tuples(kept) == _as_tuples(expected)
    over = {code: n - per_code for code, n in seen.items() if n > per_code}
    assert dict(dropped) == over
    assert {f.code: f.message.split(" times")[0].split()[-1] for f in notes} == {
        code: f"{n + per_code:,}" for code, n in over.items()
    }
    assert all(f.severity == Severity.INFO for f in notes)
    if per_code == 1:
        assert over  # the file has codes past the bound
