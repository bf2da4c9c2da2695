"""infra/captioner.py: the service as one component, importable by any program."""

from __future__ import annotations

from infra import Captioner, CaptionerArgs, captioner_settings
from infra.mocks import FUNCTION, HTTP_API, deploy, run


def test_two_captioners_live_side_by_side_in_one_program() -> None:
    def program() -> None:
        Captioner("small", CaptionerArgs(captioner_settings(memory_size=1024)))
        Captioner("large", CaptionerArgs(captioner_settings(memory_size=3008, warm_schedules=[])))

    deployment = run(program)

    assert deployment.one(FUNCTION, "small-service-function")["memorySize"] == 1024
    assert deployment.one(FUNCTION, "large-service-function")["memorySize"] == 3008
    assert len(deployment.of_type(HTTP_API)) == 2
    # Each has its own version pruner, on every stack; warming only where it has windows.
    assert sorted(f.name for f in deployment.of_type(FUNCTION)) == [
        "large-service-function",
        "large-versions-pruner",
        "small-service-function",
        "small-versions-pruner",
        "small-warming-warmer",
    ]
    assert any(urn.endswith("lukewarm:index:Captioner::small") for urn in deployment.urns)


def test_lukewarms_own_program_keeps_its_components_at_the_top_level() -> None:
    # Stacks deployed before the Captioner component existed keep every resource's URN.
    deployment = deploy()

    assert not any("lukewarm:index:Captioner" in urn for urn in deployment.urns)
    assert any(urn.endswith("Stack$lukewarm:index:Service::service") for urn in deployment.urns)
