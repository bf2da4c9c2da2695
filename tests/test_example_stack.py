"""Pulumi.example.yaml: every config key of Pulumi.yaml at its default, each with a comment."""

from __future__ import annotations

import re

import yaml

from infra.settings import ROOT, load_settings, project_defaults, stack_settings

EXAMPLE = ROOT / "Pulumi.example.yaml"


def test_the_example_sets_every_key_of_the_project_to_its_default() -> None:
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["config"]
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]

    assert list(example) == list(declared)
    assert {key.removeprefix("lukewarm:"): value for key, value in example.items()} == (
        project_defaults()
    )


def test_every_key_of_the_example_has_its_own_comment() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    keys = [i for i, line in enumerate(lines) if re.match(r"^  lukewarm:\w+:", line)]

    assert keys
    for index in keys:
        assert lines[index - 1].startswith("  # "), lines[index]


def test_the_example_is_a_stack_the_tools_read_as_the_defaults() -> None:
    assert stack_settings("example") == load_settings()
