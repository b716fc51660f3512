"""The evaluation's pure parts: held-out items, per-answer scores and their rates, the judge's prompt and verdicts,
prices and the cost estimate. Edge cases here; the CLI tests (test_eval_hosted.py) go through the front door."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneline.training.evaluate import judge
from tuneline.training.evaluate.items import Item, ItemsError, item_of, read_held_out
from tuneline.training.evaluate.metrics import Answer, compare, is_refusal, normalize, parse_json, rates, score
from tuneline.training.evaluate.prices import (
    counter_for,
    estimate,
    parse_price,
    price_for,
    prompt_tokens,
    reference_tokens,
)


def call(name: str, **arguments) -> dict:
    return {"name": name, "arguments": arguments}


# --- items -------------------------------------------------------------------------------------------------------
def test_the_prompt_is_everything_before_the_last_assistant_turn():
    obj = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "weight": 0},
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
                ],
            },
        ],
        "tools": [{"type": "function", "function": {"name": "weather"}}],
    }
    item = item_of(obj, 3)
    assert isinstance(item, Item) and item.line == 3
    assert [m["role"] for m in item.prompt] == ["system", "user", "assistant", "user"]
    assert "weight" not in item.prompt[2]  # chat completions refuses unknown keys
    assert item.reference == "" and item.reference_tool_calls == [call("weather", city="Oslo")]
    assert item.tools == obj["tools"]


@pytest.mark.parametrize(
    ("obj", "prompt", "reference"),
    [
        ({"prompt": "2+2=", "completion": "4"}, [{"role": "user", "content": "2+2="}], "4"),
        (
            {
                "input": {"messages": [{"role": "user", "content": "Q"}]},
                "preferred_output": [{"role": "assistant", "content": "good"}],
                "non_preferred_output": [{"role": "assistant", "content": "bad"}],
            },
            [{"role": "user", "content": "Q"}],
            "good",
        ),
        ({"prompt": "Q", "chosen": "yes", "rejected": "no"}, [{"role": "user", "content": "Q"}], "yes"),
        (
            {"instruction": "Add", "input": "1 and 2", "output": "3"},
            [{"role": "user", "content": "Add\n\n1 and 2"}],
            "3",
        ),
        (
            {"conversations": [{"from": "human", "value": "hey"}, {"from": "gpt", "value": "yo"}]},
            [{"role": "user", "content": "hey"}],
            "yo",
        ),
    ],
)
def test_other_formats(obj, prompt, reference):
    item = item_of(obj, 1)
    assert isinstance(item, Item) and item.prompt == prompt and item.reference == reference
    assert (item.raw_prompt == "2+2=") == ("completion" in obj)


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"text": "a story"}, "text line"),
        ({"messages": [{"role": "user", "content": "only a question"}]}, "no assistant answer"),
        ({"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]}, "no user turn"),
        ([1, 2], "not a JSON object"),
        ({"foo": 1}, "unknown format"),
    ],
)
def test_lines_that_cannot_be_evaluated_say_why(obj, reason):
    got = item_of(obj, 7)
    assert not isinstance(got, Item) and got.line == 7 and reason in got.reason


def test_read_held_out_skips_bad_lines_limits_and_refuses_an_empty_file(tmp_path: Path):
    good = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    path = tmp_path / "h.jsonl"
    path.write_bytes(("\ufeff" + good + "\r\n\r\n{oops\n" + good + "\n" + good + "\n").encode())
    held = read_held_out(path, limit=2)
    assert [i.line for i in held.items] == [1, 4] and held.lines == 4
    assert held.skipped_note() == "1 line(s) skipped: line 3: not valid JSON; run `tuneline check " + str(path) + "`"
    (tmp_path / "t.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(ItemsError, match="holds no example that can be evaluated"):
        read_held_out(tmp_path / "t.jsonl")
    with pytest.raises(ItemsError, match="cannot read"):
        read_held_out(tmp_path / "missing.jsonl")


# --- scores ------------------------------------------------------------------------------------------------------
def test_exact_and_normalised_match():
    assert normalize("  Hello,   WORLD!  ") == "hello world" == normalize("hello world")
    assert normalize("Ｃafé — déjà vu…") == "cafe deja vu".replace("cafe", "café").replace("deja", "déjà")
    s = score(Answer("The answer is 42.\n"), "The answer is 42.")
    assert s["exact_match"] and s["normalized_match"]
    s = score(Answer("the answer is 42"), "The answer is 42.")
    assert not s["exact_match"] and s["normalized_match"]
    s = score(Answer("The answer is 43."), "The answer is 42.")
    assert not s["exact_match"] and not s["normalized_match"]
    assert score(Answer(""), "")["exact_match"] and score(Answer(""), "")["length_ratio"] is None


def test_json_scores_apply_only_to_json_references():
    assert parse_json('```json\n{"a": 1}\n```') == (True, {"a": 1})
    assert parse_json("42") == (False, None) and parse_json("{not json}") == (False, None)
    assert parse_json('[{"a": 1}]') == (True, [{"a": 1}])
    ref = '{"name": "Ada", "age": 36}'
    s = score(Answer('{"age": 37, "name": "Ada"}'), ref)
    assert s["json_valid"] and s["json_same_keys"] and not s["exact_match"]
    s = score(Answer('{"name": "Ada"}'), ref)
    assert s["json_valid"] and not s["json_same_keys"]
    s = score(Answer("Ada is 36."), ref)
    assert s["json_valid"] is False and s["json_same_keys"] is False
    s = score(Answer('[{"a": 1}, {"b": 2}]'), '[{"a": 0}, {"b": 0}]')
    assert s["json_same_keys"]
    s = score(Answer('["x"]'), '["y"]')  # a list of scalars has no keys: only validity applies
    assert s["json_valid"] and s["json_same_keys"] is None
    plain = score(Answer("{}"), "plain words")
    assert plain["json_valid"] is None and plain["json_same_keys"] is None


def test_tool_calls_need_the_right_tool_and_arguments_in_any_order():
    ref = [call("weather", city="Oslo", unit="C"), call("time", zone="CET")]
    s = score(Answer("", [call("time", zone="CET"), call("weather", unit="C", city="Oslo")]), "", ref)
    assert s["tool_call_match"] and s["tool_name_match"] and s["exact_match"]
    s = score(Answer("", [call("weather", city="Paris", unit="C"), call("time", zone="CET")]), "", ref)
    assert not s["tool_call_match"] and s["tool_name_match"] and not s["exact_match"]
    s = score(Answer("It is sunny in Oslo."), "", ref)
    assert not s["tool_call_match"] and not s["tool_name_match"]
    raw = score(Answer("", [{"name": "f", "arguments": "not json"}]), "", [{"name": "f", "arguments": "not json"}])
    assert raw["tool_call_match"]
    parsed = score(Answer("", [{"name": "f", "arguments": '{"x": 1}'}]), "", [{"name": "f", "arguments": {"x": 1}}])
    assert parsed["tool_call_match"]
    assert score(Answer("hi"), "hi")["tool_call_match"] is None


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("I'm sorry, but I can't help with that.", True),
        ("I cannot assist with that request.", True),
        ("As an AI language model, I cannot provide medical advice.", True),
        ("I won't do that.", True),
        ("Unfortunately, I am unable to comply.", True),
        ("I can't find an order with that number; can you check it?", False),
        ("Sorry for the wait! Your refund is on its way.", False),
        ("The password cannot be reset by email.", False),
        ("", False),
    ],
)
def test_refusals(text, refused):
    assert is_refusal(text) is refused


def test_rates_count_only_where_a_score_applies_and_leave_failures_out():
    answers = [
        Answer("a", prompt_tokens=10, completion_tokens=2),
        Answer('{"k": 1}', prompt_tokens=10, completion_tokens=4),
        Answer(error="OpenAI answered 400: too long"),
    ]
    refs = ["a", '{"k": 2}', "c"]
    scores = [score(a, r) for a, r in zip(answers, refs)]
    m = rates(scores, answers, (1.0, 2.0))
    assert m["examples"] == 3 and m["answered"] == 2 and m["errors"] == 1
    assert m["exact_match"] == 0.5 and m["counts"]["exact_match"] == 2
    assert m["json_valid"] == 1.0 and m["counts"]["json_valid"] == 1 and m["tool_call_match"] is None
    assert m["mean_answer_tokens"] == 3.0 and m["cost_usd"] == pytest.approx((20 * 1 + 6 * 2) / 1e6)
    assert m["mean_cost_usd"] == pytest.approx(16 / 1e6)
    no_usage = rates([score(Answer("a"), "a")], [Answer("a")], (1.0, 2.0))
    assert no_usage["cost_usd"] is None and no_usage["mean_answer_tokens"] is None
    empty = rates([], [], None)
    assert empty["exact_match"] is None and empty["refusal_rate"] is None and empty["length_ratio"] is None


def test_compare_decides_by_the_judge_then_the_first_differing_score():
    right, wrong = score(Answer("x"), "x"), score(Answer("y"), "x")
    assert compare(right, wrong) == "better" and compare(wrong, right) == "worse" and compare(right, right) == "same"
    assert compare(right, wrong, judge="base") == "worse" and compare(wrong, wrong, judge="tie") == "same"
    refused, plain = score(Answer("I'm sorry, but I can't help with that."), "x"), score(Answer("z"), "x")
    assert compare(refused, plain) == "worse"
    assert compare({}, right) == "same"  # a failed request says nothing


# --- judge -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "letter"),
    [
        ('{"winner": "A"}', "A"),
        ('Sure: {"winner": "b"}', "B"),
        ('{"winner":"tie"}', "tie"),
        ("winner: A", "A"),
        ("B", "B"),
        ('"Tie".', "tie"),
        ("I think both are fine", None),
        ('{"winner": "C"}', None),
        ("", None),
    ],
)
def test_judge_replies(reply, letter):
    assert judge.parse(reply) == letter


def test_a_win_needs_both_orders():
    assert judge.winner("tuned-first", "A") == "tuned" and judge.winner("base-first", "A") == "base"
    assert judge.combine({"tuned-first": "tuned", "base-first": "tuned"}) == ("tuned", False)
    assert judge.combine({"tuned-first": "tuned", "base-first": "base"}) == ("tie", True)  # position bias
    assert judge.combine({"tuned-first": None, "base-first": "base"}) == ("base", False)
    assert judge.combine({}) == (None, False)
    r = judge.rates([("tuned", False), ("tie", True), ("base", False), (None, False)])
    assert r == {
        "judged": 3,
        "win_rate": 0.3333,
        "loss_rate": 0.3333,
        "tie_rate": 0.3333,
        "inconsistent": 1,
        "unreadable": 1,
    }


def test_the_judge_prompt_shows_the_conversation_reference_and_both_answers():
    item = Item(1, [{"role": "user", "content": "Weather in Oslo?"}], "", [call("weather", city="Oslo")])
    msgs = judge.messages(item, ("Sunny.", []), ("", [call("weather", city="Oslo")]))
    assert msgs[0] == {"role": "system", "content": judge.SYSTEM}
    user = msgs[1]["content"]
    assert "## Conversation\n[user] Weather in Oslo?" in user
    assert '## Reference answer\n[calls tool weather with {"city": "Oslo"}]' in user
    assert "## Answer A\nSunny.\n\n## Answer B\n[calls tool weather" in user
    long = judge.messages(item, ("x" * 10_000, []), ("", []))[1]["content"]
    assert "[…cut]" in long and "(empty answer)" in long


# --- prices and the estimate ---------------------------------------------------------------------------------------
def test_prices():
    base = price_for("gpt-4o-mini")
    tuned = price_for("ft:gpt-4o-mini-2024-07-18:org:name:abc123")
    assert base is not None and tuned is not None and tuned.input == 2 * base.input and tuned.output == 2 * base.output
    assert price_for("meta-llama/Llama-3.3-70B-Instruct-Turbo") is None and price_for("ft:unknown:x") is None
    assert price_for("gpt-5") is not None and price_for("ft:gpt-5:x:y") is None  # no fine-tuned price shipped
    assert parse_price("0.30,$1.20") == type(base)(0.3, 1.2, "--price")
    for bad in ("1", "a,b", "-1,2", "1,2,3", "nan,1"):
        with pytest.raises(ValueError, match="--price takes IN,OUT"):
            parse_price(bad)


def test_the_estimate_skips_what_is_answered_and_counts_both_judge_orders():
    items = [Item(i, [{"role": "user", "content": "word " * 20}], "answer " * 10) for i in range(1, 5)]
    price = price_for("gpt-4o-mini")
    est = estimate(
        items,
        [("tuned", "ft:gpt-4o-mini-2024-07-18:o::x", None), ("base", "gpt-4o-mini", price)],
        64,
        judge=("gpt-4o", price_for("gpt-4o")),
        done={"tuned": {1, 2}, "judge": {1}},
    )
    lines = {line.role: line for line in est.lines}
    assert lines["tuned"].requests == 2 and lines["base"].requests == 4 and lines["judge"].requests == 6
    counter = counter_for("gpt-4o-mini")
    assert lines["base"].tokens_in == 4 * prompt_tokens(items[0], counter) > 4 * 20
    assert lines["base"].tokens_out == 4 * reference_tokens(items[0], counter) >= 4 * 10
    assert lines["base"].tokens_out_max == 4 * 64
    assert est.usd is None and "no price for ft:gpt-4o-mini-2024-07-18:o::x" in est.cost_text()
    priced = estimate(items, [("base", "gpt-4o-mini", price)], 64)
    assert priced.usd == pytest.approx(
        price.cost(lines["base"].tokens_in, lines["base"].tokens_out)
    ) and priced.cost_text().startswith("$0.00 (at most $")


def test_the_docs_show_the_judge_prompt_as_sent():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "eval.md").read_text(encoding="utf-8")
    assert f"```text\n{judge.SYSTEM}\n```" in docs
    assert f"```text\n{judge.TEMPLATE}\n```" in docs
