"""Near duplicates know about images: the same question about different pictures is not a near duplicate."""

from __future__ import annotations

import base64
import json

from tuneline.analysis import Dataset, Engine, Settings
from tuneline.neardup import NearDuplicateDetector
from tuneline.neardup.checks import near_duplicate_findings
from tuneline.neardup.texts import example_text, same_images

QUESTION = "What is shown in this picture? Describe the objects, their colours and where they are in detail."


def vision(image: str, answer: str, question: str = QUESTION) -> str:
    content = [{"type": "text", "text": question}, {"type": "image_url", "image_url": {"url": image}}]
    return json.dumps({"messages": [{"role": "user", "content": content}, {"role": "assistant", "content": answer}]})


def data_url(payload: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(payload).decode()


def test_the_image_is_part_of_the_comparable_text():
    a = example_text(vision("https://img.example/cat.png", "A cat on a mat."))
    b = example_text(vision("https://img.example/dog.png", "A cat on a mat."))
    c = example_text(vision("https://img.example/cat.png", "A cat on a red mat."))
    assert a and b and c and a.startswith("[images: ") and QUESTION in a
    assert not same_images(a, b) and same_images(a, c)
    llama_factory = json.dumps({"messages": [{"role": "user", "content": "<image>Q?"}], "images": ["a.jpg"]})
    assert example_text(llama_factory).startswith("[images: ")  # type: ignore[union-attr]


def test_same_question_different_images_are_not_near_duplicates_same_image_is():
    lines = [
        vision(data_url(b"\x89PNG one"), "A red bicycle leaning on a wall next to a green door."),
        vision(data_url(b"\x89PNG two"), "A red bicycle leaning on a wall next to a green door, in the sun."),
        vision("https://img.example/3.png", "A dog asleep on a sofa under a striped blanket."),
        vision("https://img.example/3.png", "A dog asleep on a sofa under a striped blanket, snoring."),
    ]
    found = near_duplicate_findings(Dataset(Engine(Settings()), lines), NearDuplicateDetector("lexical"))
    assert [(f.line, f.related[0].line) for f in found] == [(3, 2)]
