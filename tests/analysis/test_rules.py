"""Each per-line rule: a line that triggers it (with the exact characters underlined) and one that does not."""

from __future__ import annotations

import json

import pytest

from .helpers import chat, codes, findings, line_findings, ok_line, spanned

U = ("user", "Hi there")
A = ("assistant", "Hello!")


def only(line: str, code: str):
    found = [f for f in line_findings(line) if f.code == code]
    assert found, f"{code} not reported for {line[:200]!r}: got {codes(line_findings(line))}"
    return found


def absent(line: str, code: str) -> None:
    assert code not in codes(line_findings(line)), line


def test_clean_line_has_no_findings():
    assert line_findings(ok_line(0)) == []
    assert findings([ok_line(i) for i in range(60)]) == []


def test_tl001_invalid_json_points_at_the_column():
    line = '{"messages": [{"role": "user", "content": "x"},]}'
    (f,) = only(line, "TL001")
    assert f.span.start == line.index("]")
    assert "column" in f.message


def test_tl001_rejects_nan_and_deep_nesting():
    assert codes(line_findings('{"messages": NaN}')) == ["TL001"]
    assert codes(line_findings('{"messages": ' + "[" * 100_000)) == ["TL001"]


def test_tl002_not_an_object():
    (f,) = only('["a", "b"]', "TL002")
    assert "array" in f.message
    absent(ok_line(), "TL002")


def test_tl003_blank_line_has_a_delete_fix():
    (f,) = only("   ", "TL003")
    assert f.fix is not None and f.fix.delete_line and f.fix.safe


def test_tl004_bom_is_a_warning_with_a_fix():
    line = "\ufeff" + ok_line()
    (f,) = only(line, "TL004")
    assert f.severity.name == "WARNING"
    assert f.span.start == 0 and f.span.end == 1
    assert [c for c in codes(line_findings(line)) if c != "TL004"] == []


def test_tl102_messages_not_a_list():
    line = json.dumps({"messages": {"role": "user"}})
    (f,) = only(line, "TL102")
    assert spanned(line, f) == '{"role": "user"}'


def test_tl103_message_not_object():
    line = json.dumps({"messages": ["hello", {"role": "assistant", "content": "x"}]})
    (f,) = only(line, "TL103")
    assert spanned(line, f) == '"hello"'


def test_tl104_missing_role():
    line = json.dumps({"messages": [{"content": "hi"}, {"role": "assistant", "content": "x"}]})
    (f,) = only(line, "TL104")
    assert spanned(line, f) == '{"content": "hi"}'


def test_tl105_unknown_role_suggests_and_fixes():
    line = chat(U, ("assitant", "Hello!"))
    (f,) = only(line, "TL105")
    assert spanned(line, f) == '"assitant"'
    assert "'assistant'" in f.message
    assert f.fix.edits[0].text == '"assistant"'
    assert f.fix.edits[0].span == f.span


def test_tl105_developer_role_is_explained():
    line = json.dumps(
        {
            "messages": [
                {"role": "developer", "content": "x"},
                {"role": "user", "content": "y"},
                {"role": "assistant", "content": "z"},
            ]
        }
    )
    (f,) = only(line, "TL105")
    assert "reinforcement" in f.message and f.fix.edits[0].text == '"system"'


def test_tl106_missing_content_but_not_with_tool_calls():
    line = json.dumps({"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]})
    only(line, "TL106")
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    fine = json.dumps({"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "tool_calls": [call]}]})
    absent(fine, "TL106")


@pytest.mark.parametrize("content", ["", "   \n\t"])
def test_tl107_empty_content(content):
    line = chat(U, ("assistant", content))
    (f,) = only(line, "TL107")
    assert spanned(line, f) == json.dumps(content)


def test_tl108_invalid_content_type():
    line = json.dumps({"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "x"}]})
    (f,) = only(line, "TL108")
    assert spanned(line, f) == "42"
    parts = json.dumps(
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": "x"},
            ]
        }
    )
    absent(parts, "TL108")
    null = json.dumps({"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": "x"}]})
    only(null, "TL108")


def test_tl109_unknown_keys_top_level_and_message():
    line = json.dumps(
        {
            "messages": [{"role": "user", "content": "u", "contnet": "x"}, {"role": "assistant", "content": "a"}],
            "meta": 1,
        }
    )
    found = only(line, "TL109")
    assert sorted(spanned(line, f) for f in found) == ['"contnet"', '"meta"']
    fixed = line
    for f in sorted(found, key=lambda f: -f.fix.edits[0].span.start):
        e = f.fix.edits[0]
        fixed = fixed[: e.span.start] + e.text + fixed[e.span.end :]
    assert json.loads(fixed) == {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}


def test_tl110_no_assistant_and_tl111_last_not_assistant():
    only(chat(U), "TL110")
    line = chat(U, A, ("user", "And?"))
    (f,) = only(line, "TL111")
    assert spanned(line, f) == '{"role": "user", "content": "And?"}'
    absent(chat(U, A), "TL111")


def test_tl112_no_user_message():
    only(chat(A), "TL112")
    absent(chat(U, A), "TL112")


def test_tl113_misplaced_system():
    line = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "u"},
                {"role": "system", "content": "s"},
                {"role": "assistant", "content": "a"},
            ]
        }
    )
    only(line, "TL113")
    absent(chat(U, A), "TL113")


def test_tl114_weight_rules():
    def line(role, weight):
        msgs = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]
        msgs[0 if role == "user" else 1]["weight"] = weight
        return json.dumps({"messages": msgs})

    for bad in (line("assistant", 2), line("assistant", True), line("assistant", 0.5), line("user", 1)):
        only(bad, "TL114")
    absent(line("assistant", 0), "TL114")
    absent(line("assistant", 1), "TL114")


def _tool_line(call: dict, tool_call_id: str = "c1", tools: list | None = None) -> str:
    obj = {
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": tool_call_id, "content": "sunny"},
            {"role": "assistant", "content": "Sunny."},
        ]
    }
    if tools is not None:
        obj["tools"] = tools
    return json.dumps(obj)


GOOD_CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def test_tool_calls_clean():
    assert line_findings(_tool_line(GOOD_CALL, tools=TOOLS)) == []


def test_tl115_arguments_object_is_fixable():
    call = {**GOOD_CALL, "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    line = _tool_line(call)
    (f,) = only(line, "TL115")
    assert spanned(line, f) == '{"city": "Paris"}'
    assert json.loads(json.loads(f.fix.edits[0].text)) == {"city": "Paris"}


def test_tl115_invalid_arguments_json_and_missing_id():
    only(_tool_line({**GOOD_CALL, "function": {"name": "f", "arguments": "{city: Paris}"}}), "TL115")
    only(_tool_line({k: v for k, v in GOOD_CALL.items() if k != "id"}), "TL115")
    only(_tool_line({**GOOD_CALL, "type": "code"}), "TL115")


def test_tl116_orphan_tool_message():
    line = _tool_line(GOOD_CALL, tool_call_id="c9")
    (f,) = only(line, "TL116")
    assert spanned(line, f) == '"c9"'


def test_tl117_tools_definition_and_undefined_call():
    only(_tool_line(GOOD_CALL, tools=[{"type": "function", "function": {"description": "no name"}}]), "TL117")
    line = _tool_line(GOOD_CALL, tools=[{"type": "function", "function": {"name": "get_time"}}])
    (f,) = only(line, "TL117")
    assert spanned(line, f) == '"get_weather"'
    only(_tool_line(GOOD_CALL, tools="not a list"), "TL117")  # type: ignore[arg-type]


def test_tl118_consecutive_same_role_is_info():
    (f,) = only(chat(U, ("user", "again"), A), "TL118")
    assert f.severity.name == "INFO"


def test_tl119_special_token_exact_span_and_fix():
    line = chat(("user", "Finish <|endoftext|> please"), A)
    (f,) = only(line, "TL119")
    assert spanned(line, f) == "<|endoftext|>"
    assert f.fix is not None and not f.fix.safe
    absent(chat(("user", "a < b | c > d"), A), "TL119")


def test_tl120_preference_pairs():
    good = {
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "good"}],
        "non_preferred_output": [{"role": "assistant", "content": "bad"}],
    }
    lines = [json.dumps(good)] * 1
    assert [f for f in line_findings(lines[0]) if f.code == "TL120"] == []
    same = {**good, "non_preferred_output": [{"role": "assistant", "content": "good"}]}
    only(json.dumps(same), "TL120")
    two = {**good, "preferred_output": [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]}
    only(json.dumps(two), "TL120")
    only(json.dumps({"prompt": "q", "chosen": "same", "rejected": "same"}), "TL120")


def test_tl121_empty_prompt_or_completion():
    line = json.dumps({"prompt": "Say hi", "completion": "  "})
    (f,) = only(line, "TL121")
    assert spanned(line, f) == '"  "'
    only(json.dumps({"text": ""}), "TL121")
    only(json.dumps({"instruction": "", "input": "", "output": "x"}), "TL121")


def test_tl201_example_too_long_for_the_model():
    line = chat(U, ("assistant", "word " * 70_000))
    (f,) = only(line, "TL201")
    assert "truncated" in f.message
    absent(chat(U, ("assistant", "word " * 20_000)), "TL201")
    small = [
        f for f in line_findings(chat(U, ("assistant", "word " * 20_000)), model="gpt-3.5-turbo") if f.code == "TL201"
    ]
    assert small and "16,385" in small[0].message


def test_tl401_secret_is_found_and_redacted():
    key = "sk-proj-" + "a" * 20 + "T3BlbkFJ" + "b" * 20
    line = chat(U, ("assistant", f"Use {key} for that"))
    (f,) = only(line, "TL401")
    assert spanned(line, f) == key
    assert key not in f.message
    absent(chat(U, ("assistant", "The year 2024 had 366 days and order 12345678901234567890 shipped")), "TL401")


def test_secret_scan_can_be_switched_off():
    key = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # a repeated "A1b2" reads as a placeholder
    line = chat(U, ("assistant", key))
    assert "TL401" in codes(line_findings(line))
    assert "TL401" not in codes(line_findings(line, secrets=False))


def test_sharegpt_rules():
    line = json.dumps({"conversations": [{"from": "humna", "value": "hi"}, {"from": "gpt", "value": ""}]})
    found = line_findings(line)
    assert {"TL105", "TL107"} <= set(codes(found))
    fix = next(f for f in found if f.code == "TL105").fix
    assert fix.edits[0].text == '"human"'


def test_positions_are_code_points_after_emoji_and_u2028():
    line = chat(("user", "👋\u2028 hi"), ("assitant", "x"))
    (f,) = only(line, "TL105")
    assert spanned(line, f) == '"assitant"'
