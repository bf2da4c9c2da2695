"""lukewarm's policy pack: `pulumi preview --policy-pack policy` from the project directory."""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(
    name="lukewarm",
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
)
