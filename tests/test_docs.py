"""The README leads with what a user does, in order, and the reference lives under docs/.

The README is the user's path: run it locally, caption real photos, deploy, keep it warm,
watch it; then a list of the docs/ pages, each with one line on what it holds. These tests
hold it to that shape (its sections, where the deploy section starts, a line budget) and
check every relative link of the README and of docs/*.md: the file it names exists and,
for a `#fragment`, so does a heading whose anchor GitHub would make that fragment. The
examples in all of them run in tests/test_readme.py.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests.test_readme import DOCS, DOCS_ORDER, DOCUMENTS, README, ROOT, document_name

USERS_PATH = [
    "Contents",
    "Run it locally",
    "Real photos: import a Hugging Face captioner",
    "Real photos: convert a checkpoint",
    "Deploy to AWS",
    "Keep it warm",
    "Watch it run",
    "More",
]
"""The README's `##` sections, in order: what a user does, then where the rest is."""
DEPLOY_BY_LINE = 270
"""The deploy section starts within this many lines (it started at line 704 before #23)."""
README_LINES = 660
"""The README's budget: the user's path, not the reference (2,303 lines before #23)."""
EXTERNAL = ("http://", "https://", "mailto:")


def inline_tokens(text: str) -> Iterator[tuple[Token, Token]]:
    """Each inline token with the block token it belongs to (a heading's, a paragraph's)."""
    tokens = MarkdownIt("commonmark").parse(text)
    for previous, token in itertools.pairwise(tokens):
        if token.type == "inline":
            yield previous, token


def plain(inline: Token) -> str:
    return "".join(child.content for child in inline.children or [])


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation and symbols dropped (`-` and
    `_` kept), each space a hyphen."""
    kept = [
        char
        for char in heading.strip().lower()
        if char in " -_" or unicodedata.category(char)[0] in "LNM"
    ]
    return "".join(kept).replace(" ", "-")


def headings(text: str) -> list[tuple[int, int, str]]:
    """(level, line, text) of every heading."""
    return [
        (int(block.tag[1:]), block.map[0] + 1 if block.map else 0, plain(inline))
        for block, inline in inline_tokens(text)
        if block.type == "heading_open"
    ]


def heading_anchors(text: str) -> set[str]:
    """Every heading's anchor, a repeated one numbered as GitHub numbers it (`-1`, `-2`)."""
    seen: dict[str, int] = {}
    anchors = set()
    for _, _, heading in headings(text):
        anchor = slug(heading)
        if anchor in seen:
            seen[anchor] += 1
            anchor = f"{anchor}-{seen[anchor]}"
        else:
            seen[anchor] = 0
        anchors.add(anchor)
    return anchors


def links(text: str) -> list[tuple[int, str]]:
    """(line of its block, target) of every link and image."""
    found = []
    for block, inline in inline_tokens(text):
        line = block.map[0] + 1 if block.map else 0
        for child in inline.children or []:
            if child.type == "link_open":
                found.append((line, str(child.attrs["href"])))
            elif child.type == "image":
                found.append((line, str(child.attrs["src"])))
    return found


def broken(path: Path) -> Iterator[str]:
    """The document's relative links whose file or heading does not exist."""
    for line, target in links(path.read_text(encoding="utf-8")):
        if target.startswith(EXTERNAL):
            continue
        file, _, fragment = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        shown = document_name(path) if path.is_relative_to(ROOT) else path.name
        where = f"{shown}:{line}: ({target})"
        if not linked.exists():
            yield f"{where}: no file {file}"
        elif (
            fragment
            and linked.suffix == ".md"
            and fragment not in heading_anchors(linked.read_text(encoding="utf-8"))
        ):
            yield f"{where}: {linked.name} has no heading #{fragment}"


@pytest.mark.parametrize("path", DOCUMENTS, ids=document_name)
def test_every_relative_link_resolves(path: Path) -> None:
    assert list(broken(path)) == []


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n## Who may call it: `lukewarm:auth`\n\n"
        "[ok](#who-may-call-it-lukewarmauth), [gone](#who-may-call-it), "
        "[missing](other.md), ![pic](page.md)\n",
        encoding="utf-8",
    )
    found = [problem.split(": ", 1)[1] for problem in broken(page)]
    assert found == ["(#who-may-call-it): page.md has no heading #who-may-call-it",
                     "(other.md): no file other.md"]  # fmt: skip


def readme_sections() -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [(line, heading) for level, line, heading in headings(text) if level == 2]


def test_the_readme_follows_the_users_path() -> None:
    assert [heading for _, heading in readme_sections()] == USERS_PATH


def test_the_deploy_section_starts_early() -> None:
    (line,) = [line for line, heading in readme_sections() if heading == "Deploy to AWS"]
    assert line <= DEPLOY_BY_LINE


def test_the_readme_keeps_to_its_budget() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_LINES, "move reference material to a page of docs/"


def test_the_readme_starts_with_the_set_up() -> None:
    """The title, then the two commands that set everything up."""
    text = README.read_text(encoding="utf-8")
    assert text.startswith("# lukewarm\n\n<!-- readme-test: skip, the set-up itself")
    first_block = text.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[:2] for line in first_block] == [["make", "serve"], ["make", "test"]]


def test_the_more_section_links_every_docs_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert "\n## More\n" in text, "the README has no More section linking docs/"
    more = text.split("\n## More\n", 1)[1].split("\n## ", 1)[0]
    linked = {target.partition("#")[0] for _, target in links(more)}
    pages = {f"docs/{path.name}" for path in DOCS.glob("*.md")}
    assert pages, "docs/ has no pages"
    assert sorted(pages - linked) == []
    # One list item per page, each saying what the page holds.
    items = [line for line in more.splitlines() if line.startswith("- ")]
    assert len(items) == len(DOCS_ORDER)
    assert all(len(item.split(":", 1)[-1].split()) >= 4 for item in items)


@pytest.mark.parametrize("name", DOCS_ORDER)
def test_a_docs_page_has_its_title_and_a_way_back(name: str) -> None:
    text = (DOCS / name).read_text(encoding="utf-8")
    assert text.startswith("# ")
    assert [level for level, _, _ in headings(text)].count(1) == 1
    opening = text.split("\n## ", 1)[0]
    assert any(target.startswith("../README.md") for _, target in links(opening))


def test_links_stay_inside_the_checkout() -> None:
    """Links stay inside the checkout, so they work on GitHub and in a clone alike."""
    for path in DOCUMENTS:
        for line, target in links(path.read_text(encoding="utf-8")):
            if not target.startswith(EXTERNAL) and target.partition("#")[0]:
                resolved = (path.parent / target.partition("#")[0]).resolve()
                assert resolved.is_relative_to(ROOT), f"{document_name(path)}:{line}"
