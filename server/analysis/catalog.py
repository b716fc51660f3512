"""The rule catalogue. Codes are a contract: the CLI, the editor, settings and tests all use them."""

from __future__ import annotations

from dataclasses import dataclass

from .types import Severity

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741

DOCS_URL = "https://github.com/tuneline/tuneline/blob/main/docs/rules.md"


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    explanation: str
    fix: str = ""
    file_level: bool = False

    @property
    def url(self) -> str:
        return f"{DOCS_URL}#{self.code.lower()}-{self.name}"


_RULES = [
    Rule(
        "TL001",
        "invalid-json",
        E,
        "The line is not valid JSON.",
        "Every line of a JSONL file must be one complete JSON value. A line that does not parse is rejected by "
        "every trainer, and most uploaders reject the whole file because of it. The column points at the "
        "character where the parser gave up; the usual causes are a missing comma or quote, a trailing comma, "
        "or a record pretty-printed over several lines.",
        "Correct the JSON at the column shown.",
    ),
    Rule(
        "TL002",
        "not-an-object",
        E,
        "The line is valid JSON but not an object.",
        'Each training example is a JSON object such as {"messages": [...]}. A bare string, number or array '
        'on a line is not an example (OpenAI reports "Line N is not a dictionary").',
    ),
    Rule(
        "TL003",
        "blank-line",
        W,
        "Blank line.",
        "JSONL has one example per line and no blank lines. Some loaders skip them, others fail on them, and "
        "they shift the line numbers that upload errors report.",
        "Delete the blank line.",
    ),
    Rule(
        "TL004",
        "encoding",
        E,
        "Invalid UTF-8 bytes or a byte order mark.",
        "Training APIs read files as UTF-8. An invalid byte makes the upload fail (an error for every target). A "
        "byte order mark (BOM) at the start is judged by the target: an error where the provider's checker rejects "
        "it (Together), nothing where it is read or asked for (Azure OpenAI, local training), a warning where the "
        "provider says nothing (OpenAI, Fireworks). docs/targets.md lists each provider's policy.",
        "Re-save the file as UTF-8 without BOM.",
    ),
    Rule(
        "TL005",
        "json-array-file",
        E,
        "The file is a JSON array, not JSONL.",
        "The file holds one JSON array (often pretty-printed) instead of one object per line. Trainers that "
        "expect JSONL read it as broken lines. Convert it, for example with `jq -c '.[]' in.json > out.jsonl`.",
        file_level=True,
    ),
    Rule(
        "TL006",
        "multi-line-records",
        E,
        "The file holds pretty-printed JSON records, not one object per line.",
        "Each record is an indented JSON object spread over many lines (what `json.dump(..., indent=2)` writes), so "
        "every line of the file is a fragment and no trainer can read it as JSONL. Reported once, on the first "
        "record; the per-line parse errors such a file causes are capped at the first 10.",
        "Convert it to one object per line, for example with `jq -c . in.json > out.jsonl`.",
        file_level=True,
    ),
    Rule(
        "TL007",
        "line-too-large",
        E,
        "The line is too large to check.",
        "`tuneline check` counts a line longer than 64 MiB (or `TUNELINE_MAX_LINE_BYTES`) but does not parse it: "
        "parsing costs several times a line's size in memory. Nothing on the line is checked, so it is an error "
        "until it is split or checked with a higher limit. A file without line breaks (a JSON dump, or bytes "
        "that are not text) shows up as one such line.",
        "Split the example, or set `TUNELINE_MAX_LINE_BYTES` higher to check it.",
    ),
    Rule(
        "TL101",
        "mixed-format",
        E,
        "This line's format differs from the file's.",
        "A dataset must use one format throughout (chat `messages`, preference, prompt/completion, text, "
        "alpaca, sharegpt). Trainers pick one loader per file; lines in another shape fail or train on the "
        "wrong fields.",
        file_level=True,
    ),
    Rule(
        "TL102",
        "missing-messages",
        E,
        "`messages` is missing or not a list.",
        "In a chat dataset every example needs a `messages` list of {role, content} objects.",
    ),
    Rule(
        "TL103",
        "message-not-object",
        E,
        "A message is not an object.",
        "Each entry of `messages` must be an object with `role` and `content`.",
    ),
    Rule(
        "TL104",
        "missing-role",
        E,
        "A message has no `role`.",
        "Every message needs a `role`: system, user, assistant or tool (function for the legacy API).",
    ),
    Rule(
        "TL105",
        "unknown-role",
        E,
        "Unknown role.",
        'The role is not one the target accepts for the file\'s method. A misspelling ("assitant") silently drops '
        "the turn or fails the upload. Roles differ per target and method: OpenAI's supervised fine-tuning takes "
        "system, user, assistant, tool and function; its reinforcement fine-tuning takes developer instead of "
        "system; Fireworks lists system, user and assistant (docs/targets.md).",
        "Replace it with the nearest valid role (developer and system are swapped for the one the method uses).",
    ),
    Rule(
        "TL106",
        "missing-content",
        E,
        "A message has no content.",
        "A message needs `content`, unless it is an assistant message carrying `tool_calls` or `function_call`.",
    ),
    Rule(
        "TL107",
        "empty-content",
        E,
        "Empty content.",
        "The content is empty or only whitespace. An empty assistant turn teaches the model to say nothing; an "
        "empty user turn is a wasted, confusing example.",
    ),
    Rule(
        "TL108",
        "invalid-content-type",
        E,
        "Content has the wrong type.",
        '`content` must be a string or a list of content parts ({"type": "text", "text": ...}); it may be '
        "null only on an assistant message with `tool_calls`. An image part holds its URL in an object, "
        '{"type": "image_url", "image_url": {"url": ..., "detail": ...}} (a bare string, a missing or empty `url` '
        "are refused), and its `detail` is one the target takes (OpenAI: auto, low, high, original; docs/targets.md, "
        "`image_detail`). Where an image cannot train anyway (the local trainer drops images; a model that takes "
        "none), TL125 says so and the shape is not judged. In an alpaca line, `instruction`, `input` and `output` "
        "are strings and `history` (LLaMA-Factory's earlier turns) a list of [instruction, response] string pairs: "
        "an entry that is no such pair is an error (the trainer fails on it), a `history` that is no list a "
        "warning (the trainer skips it, so its turns never train).",
    ),
    Rule(
        "TL109",
        "unknown-key",
        E,
        "Unknown key.",
        'The key is not part of the format. OpenAI rejects examples with extra keys ("Example 536 contains an '
        "extra 'tools'\"); other trainers ignore them silently, which hides typos. A target that refuses every key a "
        "format does not define (providers.toml `strict_keys`: Together's upload check allows `tools` beside "
        "`messages` and nothing beside prompt/completion or text) gets it on those formats too.",
        "Remove the key.",
    ),
    Rule(
        "TL110",
        "no-assistant-message",
        E,
        "No assistant message.",
        "A supervised example trains on assistant turns; without one there is nothing to learn and OpenAI "
        "rejects the example.",
    ),
    Rule(
        "TL111",
        "last-message-not-assistant",
        W,
        "The conversation does not end with an assistant message.",
        "Trailing user or tool turns after the last assistant message are never trained on. Usually the answer "
        "is missing.",
    ),
    Rule(
        "TL112",
        "no-user-message",
        W,
        "No user message.",
        "The example has no user turn, so the model learns to answer nothing in particular.",
    ),
    Rule(
        "TL113",
        "misplaced-system-message",
        W,
        "A system message is not first.",
        "System messages belong at the start of the conversation; chat templates of open models often reject "
        "or drop a system message in the middle.",
    ),
    Rule(
        "TL114",
        "invalid-weight",
        E,
        "Invalid `weight`.",
        "`weight` must be the integer 0 or 1 (0: do not train on this turn), on a message whose role the target lets "
        "carry one: OpenAI, Azure and Fireworks take it on assistant messages only, Together on any message "
        "(docs/targets.md, `weight_roles`). Together's upload check also refuses a non-zero weight on a message that "
        "holds images (`image_weight`). A finding built on a fact tuneline could not confirm in the provider's docs "
        "is a warning and says so.",
        "Remove the `weight`, move it to an assistant message, or set it to 0 on a message with images.",
    ),
    Rule(
        "TL115",
        "invalid-tool-call",
        E,
        "Malformed tool call.",
        'Each entry of `tool_calls` needs an `id`, `type: "function"` and a `function` with a `name` and '
        "`arguments`, and `arguments` must be a string holding valid JSON (not an object).",
    ),
    Rule(
        "TL116",
        "orphan-tool-message",
        E,
        "A tool message answers no earlier call.",
        "A `tool` message's `tool_call_id` must match the `id` of a tool call made earlier in the conversation.",
    ),
    Rule(
        "TL117",
        "invalid-tools-definition",
        E,
        "Invalid `tools`, or a call to an undefined function.",
        '`tools` must be a list of {"type": "function", "function": {"name": ..., "parameters": '
        "{...}}}, and every function the assistant calls should be defined there.",
    ),
    Rule(
        "TL118",
        "consecutive-same-role",
        I,
        "Two consecutive messages have the same role.",
        "Two user or two assistant turns in a row are usually a merge mistake; some chat templates reject "
        "them (they require strict alternation).",
    ),
    Rule(
        "TL119",
        "special-token",
        E,
        "A special token appears in the text.",
        'Strings such as <|endoftext|> or <|im_start|> are control tokens. OpenAI rejects them ("message '
        'contains an invalid token"); open-model trainers tokenize them as control tokens and corrupt the '
        "example.",
        "Remove the token.",
    ),
    Rule(
        "TL120",
        "invalid-preference-pair",
        E,
        "Invalid preference pair.",
        "A preference example needs exactly one assistant message on each side, and the preferred and "
        "non-preferred answers must differ.",
    ),
    Rule(
        "TL121",
        "empty-prompt-or-completion",
        E,
        "Empty prompt, completion or text.",
        "A required field is missing or empty, so the example trains on nothing or on an empty prompt.",
    ),
    Rule(
        "TL123",
        "format-not-accepted",
        E,
        "The target does not take this file's format.",
        "Each provider takes its own formats per method (docs/targets.md): OpenAI takes chat messages for "
        "supervised fine-tuning, its preference format for DPO and RFT prompts for reinforcement fine-tuning; "
        "Together also takes prompt/completion and text; tuneline's local trainer also reads alpaca and sharegpt. "
        "A file in a format its target refuses fails at upload or, worse, after it. Reported once on the file "
        "(with the targets that do take the format) and on its first lines; alpaca, sharegpt and prompt/"
        "completion lines carry a quick fix that converts them to chat messages. Without `--method`, the method "
        "follows the file's format: preference pairs train with DPO, RFT prompts with RFT, anything else with SFT. "
        "Some methods are offered for some models only (OpenAI's DPO for the gpt-4.1 family, its RFT for o4-mini "
        "alone; providers.toml's `method_models`): a file whose method its model does not offer is an error too, "
        "a warning for a model the model table does not know (it may be newer than the list).",
        "Convert the lines (the quick fix), or choose a target that takes the format (`--target`).",
        file_level=True,
    ),
    Rule(
        "TL124",
        "unknown-format",
        E,
        "No line of the file is in a format a trainer reads.",
        "The lines are JSON objects, but with keys no trainer knows (`question`, `context`, `answer` from a "
        "project's own loader, say). Every target refuses them; tuneline cannot count their tokens either. "
        "Reported once on the file, naming the formats the target takes, and on its first lines.",
        "Rewrite the lines in a format the target takes, such as chat messages.",
        file_level=True,
    ),
    Rule(
        "TL125",
        "image-not-accepted",
        E,
        "The target does not take this image.",
        "Providers differ on images (docs/targets.md): OpenAI and Azure fetch https URLs or read base64 data "
        "URLs; Together and Fireworks take base64 data URLs only; each has its own formats, size and count limits, "
        "and roles that may carry images; tuneline's local trainer keeps only text, so an image would be dropped "
        "silently. Models differ too (models.toml, `vision`): OpenAI fine-tunes gpt-4o-2024-08-06 on images and no "
        "other model, Azure gpt-4o 2024-08-06 and gpt-4.1 2025-04-14, Together only the vision-language models its "
        "vision page lists (Qwen3-VL, Llama 4 VLM, gemma-3 VLM), so images in a file for gpt-4o-mini, gpt-4.1-mini "
        "or Llama 3.1 8B fail the job; that is reported once per example, naming the models that do take images.",
        "Embed the image as a base64 data URL, convert it, or choose a target that trains on images.",
    ),
    Rule(
        "TL126",
        "conversation-start",
        E,
        "The conversation opens with a role the target does not accept first.",
        "Some providers check the order of turns before training: Together's file check requires a supervised "
        "conversation to open with a system or user message (docs/targets.md, `turn_order`). A file that opens "
        "with an assistant turn is rejected at upload. Only targets whose rules say so get this finding.",
        "Start the conversation with the user's message (after an optional system message), or drop the "
        "leading assistant turn.",
    ),
    Rule(
        "TL127",
        "mixed-content-forms",
        E,
        "The conversation mixes string content with content-part lists, which the target refuses.",
        '`content` may be a plain string or a list of content parts ({"type": "text", ...}, {"type": '
        '"image_url", ...}). OpenAI, Azure and Fireworks take both in one conversation (their own vision '
        "examples do); Together's upload check wants every message of an example in one form, so a system "
        "prompt written as a string beside a user message of image parts is refused, and so is a preference pair "
        "whose input and outputs differ in form (docs/targets.md, `mixed_content`). Only targets whose rules say so "
        "get this finding; a rule tuneline could not confirm in the provider's docs or code is a warning that says "
        "so.",
        'Write every message\'s content as a list of parts: [{"type": "text", "text": "..."}], or every one as a '
        "plain string when the example holds no image.",
    ),
    Rule(
        "TL128",
        "parts-without-image",
        E,
        "Every message is written in content parts, but the example holds no image, which the target refuses.",
        "Together's upload check reads an example written in content parts as an image example and refuses one "
        "without an image (docs/targets.md, `parts_without_images`): a text-only conversation must use plain "
        "string content there. OpenAI, Azure and Fireworks document no such rule, and tuneline's local trainer "
        "reads text parts like strings, so only targets whose rules say so get this finding.",
        "Write each message's content as a plain string, or add the image the example is about.",
    ),
    Rule(
        "TL129",
        "mixed-example-weights",
        E,
        "Some examples have a whole-example `weight` and others do not, where the target takes it on all or none.",
        "Fireworks scales each example's loss by a number `weight` beside `messages` (docs/targets.md, "
        "`example_weight`) and refuses a dataset that gives it to some examples only: 'the weight field must be "
        "present in all samples'. Reported once on the file and on the first examples without one. Other targets "
        "take no such key (TL109).",
        "Give every example a `weight` (1.0 is the default), or remove them all.",
        file_level=True,
    ),
    Rule(
        "TL122",
        "tool-arguments-schema",
        E,
        "Tool-call arguments are not a JSON object, or break the tool's declared schema.",
        "A trainer learns tool calls exactly as written. Arguments that decode to a string (double-encoded, such as "
        '`"\\"{\\\\\\"location\\\\\\": …}\\""`) or to anything but an object teach calls the API refuses: an error. '
        "Arguments that break the called function's `parameters` JSON Schema (a wrong type, a missing required "
        "property, a value outside `enum`, an unknown property where `additionalProperties` is false) teach calls "
        "that fail at run time: a warning, with the JSON path of each problem. Read from chat `tool_calls` and "
        "`function_call`, and from sharegpt `function_call` turns against their `tools`. The schema check needs "
        "`jsonschema` (installed with tuneline); a schema that is itself invalid is left to TL117. The schema's "
        "own regular expressions (`pattern`, `patternProperties`) run with a 50 ms limit: one that backtracks "
        "longer (`^(a|aa)+$`) is not judged, so a file cannot hang the linter; nor is a schema jsonschema cannot "
        "use (a `$ref` to nowhere or to itself, an unknown `$schema`).",
        "Decode double-encoded arguments once; correct the values the message names.",
    ),
    Rule(
        "TL201",
        "example-too-long",
        W,
        "The example exceeds the target's per-example token limit.",
        "Tokens past the target's limit are truncated from the end (and still billed up to the limit), so the end "
        "of the conversation, usually the answer, is lost. The limit is the model's (models.toml) or else the "
        "provider's default (providers.toml); a target that documents none gets no finding.",
    ),
    Rule(
        "TL202",
        "length-outlier",
        I,
        "The example's length is far outside the file's distribution.",
        "Token count beyond this file's upper fence: Q3 + 3 × max(IQR, median / 2). Outliers are "
        "often generation accidents (a repeated answer, a pasted document).",
    ),
    Rule(
        "TL203",
        "inconsistent-answer-length",
        I,
        "Assistant answers vary widely in length.",
        "When answer lengths spread over orders of magnitude, the tuned model's output length becomes "
        "unpredictable. Calibrate the lengths you want.",
        file_level=True,
    ),
    Rule(
        "TL205",
        "no-trained-tokens",
        E,
        "A local run would train on nothing from this example.",
        "For a `local:PATH` target, counted by the local trainer's own code (the model's chat template, prompt and "
        "`weight: 0` masking, truncation at max_length): no token of the example carries a loss, because every "
        "answer is masked or lies past max_length. The example costs a forward pass and teaches nothing, silently: "
        "the most common local fine-tuning failure. Shorten the prompt, raise max_length or give an answer weight 1.",
    ),
    Rule(
        "TL206",
        "answer-cut-by-max-length",
        W,
        "Part of the answer lies past the local run's max_length.",
        "For a `local:PATH` target: the example is longer than max_length after the chat template, and the cut "
        "drops answer tokens, so the model learns answers that stop mid-way. Raise max_length or shorten the "
        "example.",
    ),
    Rule(
        "TL308",
        "conflicting-answers",
        W,
        "The same conversation has different answers.",
        "Another example has the same conversation up to the last user turn but a different answer. The model "
        "learns an average of both, or neither.",
    ),
    Rule(
        "TL204",
        "model-shut-down",
        E,
        "The target no longer takes new fine-tuning jobs.",
        "The target model is past its shutdown date, or its provider no longer starts new fine-tuning jobs "
        "(OpenAI: none from 2027-01-06): a job would be refused. Pick a current model or another target.",
        file_level=True,
    ),
    Rule(
        "TL301",
        "duplicate-example",
        W,
        "Exact duplicate of an earlier example.",
        "The example has the same JSON value as an earlier one: only key order, spacing between JSON tokens and "
        "escapes may differ. Every field counts (a message's `weight` or `name`, text down to its whitespace), "
        "so deleting the copy loses nothing that trains. Duplicates overweight a pattern and waste training "
        "budget; examples that differ slightly are near duplicates (TL302).",
        "Delete the duplicate line.",
    ),
    Rule(
        "TL302",
        "near-duplicate",
        W,
        "Near duplicate of another example.",
        "Two examples say almost the same thing: they share most word shingles (lexical tier, MinHash) or their "
        "embeddings are closer than the threshold (semantic tier). Near duplicates waste budget and overweight a "
        "pattern. Reported on the later line, pointing at the earlier one; enable with `--near-duplicates` or the "
        "`nearDuplicates` setting.",
        "Delete or rewrite one of the two.",
    ),
    Rule(
        "TL303",
        "too-few-examples",
        E,
        "Fewer examples than the target requires.",
        "Each provider has a minimum number of training examples (OpenAI and Azure: 10, Fireworks: 3, Together: "
        "1; docs/targets.md); a file with none is refused everywhere.",
        file_level=True,
    ),
    Rule(
        "TL304",
        "few-examples",
        W,
        "Fewer than 50 examples.",
        "50 to 100 well-chosen examples are the usual minimum for a visible improvement.",
        file_level=True,
    ),
    Rule(
        "TL309",
        "too-many-examples",
        E,
        "More examples than the target accepts.",
        "The target's provider caps the examples in one training file (Fireworks: 3,000,000). Sample the file "
        "down or split the run.",
        file_level=True,
    ),
    Rule(
        "TL305",
        "inconsistent-system-prompt",
        W,
        "Examples use different system prompts.",
        "Use the same system prompt in every example, and the same one at inference time. Reported on the "
        "file and on lines whose system prompt differs from the most common one.",
        "Add the file's common system prompt.",
    ),
    Rule(
        "TL306",
        "train-validation-overlap",
        E,
        "The validation example also appears in the training file.",
        "A validation example that is a copy (or, with near duplicates on, a near duplicate) of a training example "
        "makes the validation loss measure memorisation. Validation files are paired with training files by the "
        "`validationFile` setting or by name (train.jsonl / valid.jsonl, x_train / x_val, ...).",
        "Remove the example from one of the files.",
    ),
    Rule(
        "TL401",
        "secret-in-data",
        E,
        "A secret (API key, token, private key) is in the data.",
        "A credential in a training example can be memorised and reproduced by the tuned model, and the file "
        "is uploaded to a third party. Found by shape: OpenAI (`sk-proj-`, `sk-svcacct-`, `sk-admin-` and keys "
        "carrying OpenAI's `T3BlbkFJ` marker), Anthropic (`sk-ant-`), Together (`tgp_v1_`), Hugging Face (`hf_`, "
        "`api_org_`), GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), Google (`AIza`), AWS access "
        "key ids (`AKIA`, `ASIA`, ...) and AWS secret access keys (40 characters, reported only next to an "
        "`aws_secret_access_key` label or an access key id); plus detect-secrets' pattern detectors (Slack, "
        "Stripe, GitLab, private key headers, passwords in URLs, JSON Web Tokens whose header decodes, ...). "
        "A key must stand alone and look random: hashes, UUIDs, base64 images and placeholders such as "
        "`sk-proj-xxxx` are not reported. The message shows only the first four characters of the key. "
        "`--no-secrets` (or `secrets = false`) turns the scan off.",
        "Remove the key from the example and rotate it with the provider: it may already have been copied.",
    ),
    Rule(
        "TL501",
        "unfilled-placeholder",
        W,
        "A template slot or unfinished text is left in the data.",
        "Template slots that were never filled (`{{name}}`, `[INSERT …]`, `[Your Name]`, `<PLACEHOLDER>`) and, in "
        "answers, `TODO`, `TBD`, `FIXME` or lorem ipsum: the tuned model learns to write them. Text inside code "
        "(fenced blocks, inline code, code comments) is left alone. A single-brace `{name}` counts only in a file "
        "that otherwise has no braces (at most 2% of the examples use braces as code or JSON): elsewhere it is "
        "more likely a format string.",
        "Fill the slot in, or drop the example.",
    ),
    Rule(
        "TL502",
        "truncated-answer",
        W,
        "The answer stops mid-way.",
        "An answer (or a preference pair's preferred side) that ends inside a code block whose ``` is never "
        "closed, or JSON that stops before its closing bracket, was cut off by a length limit: the model learns to "
        "stop mid-sentence. An answer of 300 characters or more that ends without closing punctuation (on a letter, "
        "a comma, a colon; not on a list item, a hashtag or a short verdict after a colon) is reported as information, "
        "and only when at least 90% of the file's answers end with it.",
        "Complete the answer or drop the example.",
    ),
    Rule(
        "TL503",
        "surrounding-whitespace",
        I,
        "An answer or system prompt starts or ends with whitespace.",
        "Leading or trailing spaces and blank lines in an answer or a system prompt: chat templates put their own "
        "separators around each message, so the model learns to emit stray newlines (often every answer of a file "
        "converted from another format). The fix trims the text and changes nothing else.",
        "Trim the text.",
    ),
    Rule(
        "TL504",
        "empty-reasoning-block",
        W,
        "An answer holds an empty reasoning block.",
        "`<think></think>` (or `<thinking>`, `<reasoning>`) with nothing but whitespace inside, in an assistant "
        "answer: the chat template of a reasoning model will train it to skip reasoning. Intended only when the "
        "model should learn to answer without thinking.",
        "Write the reasoning, or remove the block.",
    ),
    Rule(
        "TL505",
        "personal-data",
        W,
        "Personal data (e-mail, phone, card number, IBAN) in the text.",
        "E-mail addresses, phone numbers, payment card numbers and IBANs in user or assistant text can be memorised "
        "and repeated by the tuned model, and the file goes to a third party. Each kind is confirmed beyond its "
        "shape: card numbers pass the Luhn check and start like a card network's, IBANs have their country's length "
        "and a valid checksum, phone numbers are written like phone numbers (a leading `+`, or a national layout "
        "with separators) and are valid by libphonenumber's metadata (the `phonenumbers` package; without it phone "
        "numbers are skipped). Documentation addresses (example.com, .test) and the card networks' test numbers "
        "are not reported, nor are dates, versions, IP addresses, hashes or UUIDs. The message masks the value.",
        "Remove the data or replace it with a realistic fake.",
    ),
    Rule(
        "TL506",
        "dataset-artifact",
        I,
        "A leftover of how the data was generated.",
        "Calculator annotations such as `<<48/2=24>>` (GSM8K's tool markup) and 'As an AI language model' are "
        "reported wherever they are. HTML tags in answers whose prompt is not about markup, and role labels "
        "(`User:`, `Assistant:`) at the start of a line inside an answer whose prompt asks for no dialogue, are "
        "reported when they repeat across the file (3 examples or more). The model learns to write all of these.",
        "Remove the leftover (the calculator annotation has a quick fix).",
    ),
    Rule(
        "TL507",
        "inconsistent-answer-format",
        I,
        "Answers to the same kind of prompt use different formats.",
        "Examples with the same system prompt (the whole file when there is none) are one kind of task, and the "
        "model should learn one answer format for it. Within a kind with 10 answers or more, an answer is reported "
        "when it is not JSON where 80% are, a paragraph where 90% are markdown lists, a JSON object with other "
        "top-level keys than 90% of the JSON answers (key order does not count), or in another writing system than "
        "90% of the answers and than its own prompt.",
        "Rewrite the odd answer in the common format.",
    ),
]

RULES: dict[str, Rule] = {r.code: r for r in sorted(_RULES, key=lambda r: r.code)}
BY_NAME: dict[str, Rule] = {r.name: r for r in _RULES}


def lookup(code_or_name: str) -> Rule | None:
    key = code_or_name.strip()
    return RULES.get(key.upper()) or BY_NAME.get(key.lower())


def expand_selector(selector: str) -> list[str]:
    """'TL1' -> every code starting with TL1; 'ALL' -> everything; a name -> its code (ruff-style prefixes)."""
    s = selector.strip()
    if not s:
        return []
    if s.upper() == "ALL":
        return list(RULES)
    rule = lookup(s)
    if rule:
        return [rule.code]
    return [c for c in RULES if c.startswith(s.upper())]
