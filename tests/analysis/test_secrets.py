"""TL401 and redaction share one list of key shapes: realistic keys of every provider shape are found (exact spans,
through the engine and through `tuneline check`), hashes, UUIDs, base64 blobs and ordinary identifiers are not,
detect-secrets' own detectors still fire behind their gates, and `redact` masks the same keys."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import string
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tuneline.analysis.rules import text_scan
from tuneline.analysis.secret_patterns import KEY_PATTERNS, find_keys
from tuneline.training.redact import redact

from .helpers import chat, findings

REPO = Path(__file__).resolve().parents[2]
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
BASE64 = ALNUM + "+/"
BASE32 = string.ascii_uppercase + "234567"  # AWS access key ids


def pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def aws_id(rng: random.Random) -> str:
    return rng.choice(("AKIA", "ASIA")) + pick(rng, BASE32, 16)


# Provider shapes, generated with the providers' alphabets and lengths (see secret_patterns' docstring).
SHAPES: dict[str, Callable[[random.Random], str]] = {
    "openai-proj": lambda r: "sk-proj-" + pick(r, URLSAFE, 74) + "T3BlbkFJ" + pick(r, URLSAFE, 74),
    "openai-proj-58": lambda r: "sk-proj-" + pick(r, URLSAFE, 58) + "T3BlbkFJ" + pick(r, URLSAFE, 58),
    "openai-svcacct": lambda r: "sk-svcacct-" + pick(r, URLSAFE, 74) + "T3BlbkFJ" + pick(r, URLSAFE, 74),
    "openai-admin": lambda r: "sk-admin-" + pick(r, URLSAFE, 58) + "T3BlbkFJ" + pick(r, URLSAFE, 58),
    "openai-legacy": lambda r: "sk-" + pick(r, ALNUM, 20) + "T3BlbkFJ" + pick(r, ALNUM, 20),
    "anthropic": lambda r: "sk-ant-api03-" + pick(r, URLSAFE, 93) + "AA",
    "anthropic-admin": lambda r: "sk-ant-admin01-" + pick(r, URLSAFE, 93) + "AA",
    "together": lambda r: "tgp_v1_" + pick(r, URLSAFE, 43),
    "huggingface": lambda r: "hf_" + pick(r, string.ascii_letters, 34),
    "huggingface-org": lambda r: "api_org_" + pick(r, string.ascii_letters, 34),
    "github-classic": lambda r: r.choice(("ghp_", "gho_", "ghu_", "ghs_", "ghr_")) + pick(r, ALNUM, 36),
    "github-fine-grained": lambda r: "github_pat_" + pick(r, ALNUM, 22) + "_" + pick(r, ALNUM, 59),
    "google": lambda r: "AIza" + pick(r, URLSAFE, 35),
    "aws-access-key-id": aws_id,
}

# How keys sit in chat data: prose, a shell line, code with quotes (escaped in the JSON line), after a newline.
CONTEXTS = (
    "Here is my key: {key} - can you see why it fails?",
    "export API_KEY={key}\nthen run the script",
    'client = Client(api_key="{key}")',
    "Key:\n{key}\nThanks!",
    "curl -H 'Authorization: Bearer {key}' https://api.example.com/v1/models",
    "https://{key}@github.com/acme/app.git",
)


def aws_secret_lines(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """AWS secret access keys have no prefix: only their label or a nearby access key id tells them apart."""
    out = []
    for i in range(n):
        secret = pick(rng, BASE64, 40)
        text = (
            f"aws_secret_access_key = {secret}",
            f"AWS_SECRET_ACCESS_KEY={secret}\nAWS_REGION=us-east-1",
            json.dumps({"AccessKeyId": aws_id(rng), "SecretAccessKey": secret}),
            f"Use access key {aws_id(rng)} with secret {secret} for the bucket.",
        )[i % 4]
        out.append((chat(("user", text), ("assistant", "Rotate it now.")), secret))
    return out


def tl401(lines: list[str]) -> list:
    return [f for f in findings(lines, select=["TL401"]) if f.code == "TL401"]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_200_realistic_keys_of_each_shape_are_found_with_exact_spans(shape):
    rng = random.Random(f"tl401-{shape}")
    cases = []
    for i in range(200):
        key = SHAPES[shape](rng)
        cases.append((chat(("user", CONTEXTS[i % len(CONTEXTS)].format(key=key)), ("assistant", "Noted.")), key))
    found = tl401([line for line, _ in cases])
    by_line: dict[int, list] = {}
    for f in found:
        by_line.setdefault(f.line, []).append(f)
    missed = [key for i, (_, key) in enumerate(cases) if i not in by_line]
    assert not missed, f"{len(missed)}/200 missed, e.g. {missed[0]}"
    for i, (line, key) in enumerate(cases):
        (f,) = by_line[i]
        assert line[f.span.start : f.span.end] == key
        assert key not in f.message and key[8:20] not in f.message


def test_200_aws_secret_access_keys_next_to_their_label_or_key_id_are_found():
    cases = aws_secret_lines(random.Random("tl401-aws-secret"), 200)
    found = tl401([line for line, _ in cases])
    spans = {(f.line, cases[f.line][0][f.span.start : f.span.end]) for f in found}
    missed = [secret for i, (_, secret) in enumerate(cases) if (i, secret) not in spans]
    assert not missed, f"{len(missed)}/200 missed"
    assert all("AWS secret access key" in f.message for f in found if f.span.end - f.span.start == 40)


def negatives(rng: random.Random) -> list[str]:
    """Things that look key-ish but are not credentials: 1,300 of them."""
    texts = []
    for i in range(150):
        seed = f"{i}-{rng.random()}".encode()
        texts.append(f"md5 {hashlib.md5(seed).hexdigest()} sha1 {hashlib.sha1(seed).hexdigest()}")
        texts.append(f"sha256:{hashlib.sha256(seed).hexdigest()} / {hashlib.sha512(seed).hexdigest().upper()}")
        texts.append(f"commit {hashlib.sha1(seed).hexdigest()}\nAuthor: dev\nsha256 {hashlib.sha256(seed).hexdigest()}")
    for _ in range(100):
        u = uuid.UUID(int=rng.getrandbits(128))
        texts.append(f"request {u} and {str(u).upper()} and {u.hex} (trace {uuid.UUID(int=rng.getrandbits(128))})")
        texts.append(f'{{"id": "{u}", "parent": "{uuid.UUID(int=rng.getrandbits(128)).hex}"}}')
    for i in range(400):
        raw = rng.randbytes(rng.choice((16, 30, 45, 64, 300, 2000)))
        b64 = base64.b64encode(raw).decode()
        texts.append(
            (
                f"![chart](data:image/png;base64,{b64})",
                f"data:image/jpeg;base64,{b64}",
                f"blob: {b64}",
                f"token-free payload {base64.urlsafe_b64encode(raw).decode().rstrip('=')}",
            )[i % 4]
        )
    for _ in range(100):
        # JWT-looking blobs whose header is not JSON: not tokens.
        texts.append("eyJ" + pick(rng, URLSAFE, 30) + "." + pick(rng, URLSAFE, 60) + "." + pick(rng, URLSAFE, 43))
    identifiers = [
        "from huggingface_hub import hf_hub_download, hf_hub_url",
        "pip install scikit-learn; import sklearn; risk-free task-proj-management-overview-document",
        "sk-learn-tutorial-for-beginners-with-examples and sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "OPENAI_API_KEY=sk-... ; HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ; AKIAXXXXXXXXXXXXXXXX",
        "def get_github_pat_from_environment_variable_or_fail(): return os.environ['GITHUB_PAT']",
        "The ASIA-PACIFIC region and ASIAN markets; ACCA exams; AIza is not a word",
        "aws_secret_access_key = <your secret key here>; aws_secret_access_key=${AWS_SECRET_ACCESS_KEY}",
        "/home/user/projects/model_checkpoints/epoch_12/pytorch_model-00001-of-00002.safetensors",
        "https://example.com/api/v2/items?page=3&limit=50&sort=created_at_desc&filter=status_eq_active",
        "const handleSubmitButtonClickEventWithRetries2024 = async (userProfileId) => {}",
        "ghp_placeholder_value_goes_here_in_your_config_file and gh_pages_deploy_branch_name_v2",
        "The secret access key is 0123456789abcdef0123456789abcdef01234567 (a sha1, lower case hex)",
        "npm integrity sha512-" + base64.b64encode(rng.randbytes(64)).decode(),
    ]
    texts += identifiers * 20
    return texts


def test_no_finding_on_1300_hashes_uuids_base64_blobs_and_identifiers():
    texts = negatives(random.Random("tl401-negatives"))
    assert len(texts) >= 1300
    lines = [chat(("user", t), ("assistant", "Thanks, here is the answer.")) for t in texts]
    found = tl401(lines)
    assert not found, [(texts[f.line][:80], f.message) for f in found[:5]]


def test_a_jwt_is_reported_as_a_token():
    """Decided: a JWT whose header decodes to JSON is a bearer credential (sessions, API tokens), so it is kept
    from detect-secrets; random `eyJ` blobs (above) are not."""
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(b'{"sub":"1234567890","name":"Ada","iat":1516239022}').decode().rstrip("=")
    jwt = f"{header}.{payload}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    line = chat(("user", f"Authorization: {jwt}"), ("assistant", "ok"))
    (f,) = tl401([line])
    assert "JSON Web Token" in f.message and line[f.span.start : f.span.end].startswith("eyJ")


# One sample per detect-secrets detector; each line also holds a 20+ run with a digit (the old general gate).
DETECT_SECRETS_SAMPLES = {
    "ArtifactoryDetector": "token AKCp8" + "k2Lm9Xq4Rt7Vw1Zy3Bn6Hj5Gf8Ds0Ae" + " end",
    "AWSKeyDetector": "aws_key='" + "Zk3Lm9Xq4Rt7Vw1Zy3Bn6Hj5Gf8Ds0AeQw2Er5Tu" + "'",
    "AzureStorageKeyDetector": "AccountKey=" + base64.b64encode(bytes(range(66))).decode(),
    "BasicAuthDetector": "https://admin:s3cretPassw0rd@db.example.com/main",
    "CloudantDetector": "cloudant_password = " + "0123456789abcdef" * 4,
    "DiscordBotTokenDetector": "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
    "GitLabTokenDetector": "glpat-" + "x1Y2z3W4v5U6t7S8r9Q0",
    "IbmCloudIamDetector": "ibm_cloud_iam_key = " + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5kL7nP9rS",
    "IbmCosHmacDetector": "secret_access_key = " + "0123456789abcdef" * 3,
    "MailchimpDetector": "0123456789abcdef0123456789abcdef-us12",
    "NpmDetector": "//registry.npmjs.org/:_authToken=npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "PrivateKeyDetector": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA",
    "PypiTokenDetector": "pypi-AgEIcHlwaS5vcmc" + "A1b2C3d4E5f6G7h8I9j0" * 4,
    "SendGridDetector": "SG." + "a1B2c3D4e5F6g7H8i9J0k1" + "." + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V",
    "SlackDetector": "xoxb-123456789012-abcdef123456 and https://hooks.slack.com/services/T0001/B0002/XXXX",
    "SoftlayerDetector": "softlayer_api_key = " + "0123456789abcdefghijklmnopqrstuv" * 2,
    "SquareOAuthDetector": "sq0csp-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V",
    "StripeDetector": "sk_live_" + "a1B2c3D4e5F6g7H8i9J0k1L2",
    "TelegramBotTokenDetector": "bot 123456789:" + "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
    "TwilioKeyDetector": "AC" + "0123456789abcdef" * 2 + " and SK" + "fedcba9876543210" * 2,
}
FILLER = " (build 2024-01-01T12:00:00-release-candidate)"


def test_every_detect_secrets_detector_still_fires_behind_its_gate():
    detectors = {d.name: d for d, _, _ in text_scan.detectors()}
    missing = set(detectors) - set(DETECT_SECRETS_SAMPLES) - {"JwtTokenDetector", "OpenAIDetector"}  # tested above
    assert not missing, f"no sample for {missing}"
    for name, text in DETECT_SECRETS_SAMPLES.items():
        line = chat(("user", text + FILLER), ("assistant", "ok"))
        expected = list(detectors[name].analyze_string(line))
        assert expected, f"{name}: the sample does not trigger detect-secrets itself"
        spans = [(f.span.start, f.span.end) for f in text_scan.secrets(line)]
        for secret in expected:
            start = line.find(secret)
            assert any(s < start + len(secret) and start < e for s, e in spans), f"{name} lost {secret!r}"


def test_detect_secrets_gates_never_hide_a_match_on_mutated_lines():
    """The gates are necessary conditions: on lines made by splicing samples and noise, wherever a detect-secrets
    regex matches behind the old general gate, a TL401 finding overlaps the match."""
    rng = random.Random("tl401-gates")
    detectors = [(d, filters) for d, _, filters in text_scan.detectors()]
    pieces = [*DETECT_SECRETS_SAMPLES.values(), "key = ", "token: ", "cl_pw=", "sl-api-token ", ":", ".", " "]
    for _ in range(300):
        text = "".join(rng.choice(pieces) + pick(rng, URLSAFE + " :=.", rng.randint(0, 30)) for _ in range(4))
        line = chat(("user", text + FILLER), ("assistant", "ok"))
        spans = [(f.span.start, f.span.end) for f in text_scan.secrets(line)]
        for d, filters in detectors:
            if filters:
                matches = [(line.find(x), line.find(x) + len(x)) for x in d.analyze_string(line)]
            else:
                matches = [m.span() for regex in d.denylist for m in regex.finditer(line)]
            for start, end in matches:
                assert any(s < end and start < e for s, e in spans), (d.name, text)


def test_the_general_gate_is_the_old_one():
    run, digit = re.compile(r"[A-Za-z0-9_\-+/=.]{20,}"), re.compile(r"\d")
    rng = random.Random("tl401-runs")
    for _ in range(3000):
        text = "".join(rng.choice((pick(rng, "abcXYZ_-", 5), "1", " ", '"', "\\n", "é")) for _ in range(30))
        old = any(digit.search(m.group()) for m in run.finditer(text))
        assert text_scan._runs(text)[1] == old, text


def test_tuneline_check_reports_lines_and_columns_of_keys(tmp_path):
    rng = random.Random("tl401-cli")
    keys = {
        "OpenAI API key": SHAPES["openai-proj"](rng),
        "Hugging Face token": SHAPES["huggingface"](rng),
        "Together AI API key": SHAPES["together"](rng),
        "AWS access key id": "AKIA" + pick(rng, string.ascii_uppercase, 16),  # no digit at all
        "Anthropic API key": SHAPES["anthropic"](rng),
    }
    lines = [chat(("user", "hello"), ("assistant", "hi"))]
    lines += [chat(("user", f"My key:\n{key}"), ("assistant", "Please rotate it.")) for key in keys.values()]
    path = tmp_path / "keys.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = [sys.executable, "-m", "tuneline", "check", "--select", "TL401", "--no-summary"]
    p = subprocess.run([*args, "--format", "json", str(path)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 1, p.stderr
    diags = json.loads(p.stdout)["files"][0]["diagnostics"]
    assert len(diags) == len(keys)
    for number, ((name, key), d) in enumerate(zip(keys.items(), diags, strict=True), start=2):
        line = lines[number - 1]
        start = line.index(key)
        assert (d["code"], d["line"], d["column"], d["end_column"]) == (
            "TL401",
            number,
            start + 1,
            start + len(key) + 1,
        )
        assert name in d["message"] and key not in p.stdout
    text = subprocess.run([*args, str(path)], capture_output=True, text=True, cwd=REPO, timeout=120).stdout
    start = lines[1].index(keys["OpenAI API key"])
    assert f"{path}:2:{start + 1}: TL401 Possible OpenAI API key (sk-p…)" in text
    off = subprocess.run([*args, "--no-secrets", str(path)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert off.returncode == 0 and "TL401" not in off.stdout


def test_redact_masks_every_key_shape_and_keeps_its_old_masks(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    rng = random.Random("tl401-redact")
    for shape, make in SHAPES.items():
        key = make(rng)
        out = redact(f"upload failed for {key}: 401")
        assert key not in out and out == "upload failed for [redacted]: 401", shape
    (_, secret), *_ = aws_secret_lines(rng, 1)
    assert secret not in redact(f"aws_secret_access_key = {secret}")
    # What redact masked before the shared list: masked and truncated echoes, short Together keys, bearer tokens.
    for kept_masked in (
        "Incorrect API key provided: sk-proj-****************************1234",
        "tgp_v1_abcdefghijklmnop",
        "hf_abcdefghijklmnopqrst",
        "Authorization: Bearer abc.def-ghi",
    ):
        assert "[redacted]" in redact(kept_masked), kept_masked
    for harmless in (
        "/home/user/task-notes/desk-file.jsonl",
        "sha256:" + hashlib.sha256(b"x").hexdigest(),
        str(uuid.UUID(int=7)),
        "hf_hub_download failed: 404",
    ):
        assert redact(harmless) == harmless


def test_key_patterns_are_one_list_with_anchors_inside_every_match():
    rng = random.Random("tl401-anchors")
    for make in SHAPES.values():
        key = make(rng)
        (k,) = find_keys(f" {key} ")
        assert any(a in key for a in k.pattern.anchors) or k.pattern.name.startswith("AWS")
    assert len({p.name for p in KEY_PATTERNS}) >= 8


def test_runs_are_the_regex_runs_and_searching_anchors_only_there_finds_the_same_keys():
    """`secrets` looks for key anchors only inside the line's runs of 20+ key characters (#14): exact only if every
    key lies in a run, holds its anchors (or says they are context) and is no shorter than its `shortest`."""
    rng = random.Random("tl401-runs")
    lines = [line for line, _ in aws_secret_lines(rng, 40)]
    # Anthropic's version digits are `\d`: a non-ASCII digit there splits the key into a short prefix and a run
    lines.append(json.dumps({"content": "sk-ant-api٠٣-" + pick(rng, URLSAFE, 40)}, ensure_ascii=False))
    assert find_keys(lines[-1])
    for make in SHAPES.values():
        for context in CONTEXTS:
            lines.append(json.dumps({"content": context.format(key=make(rng))}))
    noise = ALNUM + "_-+/=.é€٠٣ :\\\"'\n"  # an Arabic-Indic digit is a `\d` but no key character
    for line in list(lines):  # the keys cut, grown and glued to neighbours, as in mangled data
        for _ in range(6):
            i = rng.randrange(len(line))
            lines.append(line[:i] + pick(rng, noise, rng.randint(0, 3)) + line[i + rng.randint(0, 3) :])
    run_class = set(ALNUM + "_-+/=.")
    found_any = 0
    for line in lines:
        runs, digit = text_scan._runs(line)
        expected = [m.group() for m in text_scan._RUN.finditer(line)]
        assert runs == "\n".join(expected), line
        assert digit == any(re.search(r"\d", r) for r in expected), line
        keys = find_keys(line)
        assert find_keys(line, runs) == keys, line
        found_any += bool(keys)
        for k in keys:
            key = line[k.start : k.end]
            assert len(key) >= k.pattern.shortest, key
            if k.pattern.anchors_in_key:  # then the key is one run of key characters holding its anchor
                assert set(key) <= run_class and any(a in key for a in k.pattern.anchors), key
    assert found_any > len(SHAPES) * len(CONTEXTS)  # the mangled lines are not all keyless


def test_an_anthropic_key_with_non_ascii_version_digits_is_still_found_by_check(tmp_path):
    """Anthropic's shape takes any `\\d` in its version (`api٠٣`): the key then does not lie in one run of key
    characters, and `check` must still report it, as it did before the runs prefilter."""
    key = "sk-ant-api٠٣-" + pick(random.Random("tl401-arabic"), URLSAFE, 40)
    path = tmp_path / "keys.jsonl"
    path.write_text(chat(("user", f"key {key}"), ("assistant", "Rotate it.")) + "\n", encoding="utf-8")
    p = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", "--select", "TL401", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    (d,) = json.loads(p.stdout)["files"][0]["diagnostics"]
    assert d["code"] == "TL401" and "Anthropic API key" in d["message"], d
