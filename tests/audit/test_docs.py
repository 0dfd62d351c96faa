"""docs/audit.md's worked example is what the code computes, byte for byte."""

from __future__ import annotations

import json
import re
from pathlib import Path

from app.audit import chain

DOC = (Path(__file__).parents[2] / "docs" / "audit.md").read_text(encoding="utf-8")


def test_the_documented_canonical_example_and_its_hash_are_right() -> None:
    example = re.search(r"```json canonical-example\n(.+?)\n```", DOC, re.S)
    assert example is not None
    text = example.group(1)
    body = json.loads(text)

    assert chain.canonical_json(body) == text.encode()
    assert f"{len(text.encode())} of them in UTF-8" in DOC
    digest = chain.link_hash("5e" * 32, chain.record_body(**body))
    assert f"\n{digest}\n" in DOC
