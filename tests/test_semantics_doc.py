"""docs/semantics.md is the contract the code, tests and docs cite: every citation of a section
names one that exists, and nothing cites a contract outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "semantics.md"
CITATION = re.compile(r'semantics\.md,? \(?"([^"\n]+)"')
CITED_TREES = ("skewless", "tests", "docs", "bench")


def _cited_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for tree in CITED_TREES:
        files += [p for p in (ROOT / tree).rglob("*") if p.suffix in {".py", ".md"}]
    return files


def _sections() -> set[str]:
    return {line[3:].strip() for line in DOC.read_text().splitlines() if line.startswith("## ")}


def test_every_cited_section_exists() -> None:
    sections = _sections()
    cited: dict[str, list[str]] = {}
    for path in _cited_files():
        if path == Path(__file__):
            continue
        for match in CITATION.finditer(path.read_text(errors="replace")):
            cited.setdefault(match.group(1), []).append(str(path.relative_to(ROOT)))
    assert cited, "no file cites a section of docs/semantics.md"
    missing = {name: where for name, where in cited.items() if name not in sections}
    assert not missing, f"citations of sections docs/semantics.md does not have: {missing}"


def test_no_citation_of_a_contract_outside_the_repository() -> None:
    outside = [
        str(path.relative_to(ROOT))
        for path in _cited_files()
        if path != Path(__file__) and "SEMANTICS.md" in path.read_text(errors="replace")
    ]
    assert outside == []
