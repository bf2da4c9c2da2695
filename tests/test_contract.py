"""The contract ships wherever it is needed: in the image and in every helper Lambda's zip,
each of which imports it and nothing else of the project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import contract
from infra.helper import helper_code
from tests.conftest import FUNCTION_DIR, ROOT

BOTO3_AND_ITS_DEPENDENCIES = {
    "boto3", "botocore", "certifi", "dateutil", "jmespath", "s3transfer", "six", "urllib3"
}  # fmt: skip


def imported_by(code: str, path: Path) -> set[str]:
    """The top-level modules `code` imports, run isolated (`-I`) with only `path` added."""
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"sys.path.insert(0, {str(path)!r})\n"
        f"{code}\n"
        "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        cwd=path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    # (`__mp_main__` is an alias of `__main__` that concurrent.futures' import adds.)
    return set(done.stdout.split()) - {"__mp_main__"}


def test_the_contract_needs_only_the_standard_library() -> None:
    imported = imported_by("import contract", FUNCTION_DIR)
    assert "contract" in imported
    assert imported - set(sys.stdlib_module_names) == {"contract"}


@pytest.mark.parametrize("source", ["warmer", "pruner"])
def test_each_helper_zip_holds_its_handler_and_the_contract_and_needs_only_boto3(
    source: str, tmp_path: Path
) -> None:
    # Deployed as this zip (handler `handler.handler`) on Lambda's Python runtime, which
    # has boto3 and nothing of ours: import it from a folder of exactly the zip's files.
    archive = helper_code(source)
    assert set(archive.assets) == {"handler.py", "contract/__init__.py"}
    for name, asset in archive.assets.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / asset.path).read_bytes())

    imported = imported_by("import handler, contract", tmp_path)

    outside = imported - set(sys.stdlib_module_names) - {"handler", "contract"}
    assert {"handler", "contract"} <= imported
    assert outside <= BOTO3_AND_ITS_DEPENDENCIES, outside


def test_the_helper_zips_ship_the_very_contract_the_function_imports() -> None:
    for source in ("warmer", "pruner"):
        shipped = helper_code(source).assets["contract/__init__.py"].path
        assert (ROOT / shipped).resolve() == Path(contract.__file__).resolve()
    assert Path(contract.__file__).resolve() == (FUNCTION_DIR / "contract" / "__init__.py")


def test_only_the_upload_page_and_health_stay_public_under_auth() -> None:
    # The deployed API (infra/api.py) and the local stack's authorizer both read these.
    assert contract.PUBLIC_ROUTES == ("GET /", "GET /health")
    assert set(contract.PUBLIC_ROUTES) < set(contract.ROUTES)
    assert contract.CAPTION_ROUTE in contract.ROUTES
    assert contract.CAPTION_ROUTE not in contract.PUBLIC_ROUTES


def test_a_warm_up_answer_is_read_by_one_function_that_needs_only_the_standard_library():
    # The contract owns this check, beside the warm-up event it answers: it takes a parsed
    # answer and nothing of boto3's, and says what is wrong in a ValueError.
    assert contract.parse_warm_answer(
        {"warm": True, "instance": "a1b2", "cold_start": True, "restored": False, "init_ms": 3.0}
    ) == contract.WarmAnswer(instance="a1b2", cold_start=True, restored=False)
    assert contract.parse_warm_answer(
        {"warm": True, "instance": "a1b2", "cold_start": False}
    ) == contract.WarmAnswer(instance="a1b2", cold_start=False, restored=False)
    with pytest.raises(ValueError, match="instance is a list"):
        contract.parse_warm_answer({"warm": True, "instance": ["a"], "cold_start": False})
