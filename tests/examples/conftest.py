"""Example programs run under the same mocks as lukewarm's own."""

from tests.infra.conftest import pulumi_state

__all__ = ["pulumi_state"]
