"""Policy tests run programs under the same mocks, from the project directory."""

from tests.infra.conftest import pulumi_state

__all__ = ["pulumi_state"]
