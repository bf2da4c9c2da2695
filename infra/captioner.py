"""The whole captioning service as one component: image, function, API, warming, pruning.

Another program imports it and sets what it wants from code:

    from infra import Captioner, CaptionerArgs, captioner_settings

    captions = Captioner(
        "captions", CaptionerArgs(captioner_settings(memory_size=3008, architecture="arm64"))
    )
    pulumi.export("url", captions.url)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import pulumi

from infra.api import Api, ApiArgs
from infra.image import Image, ImageArgs
from infra.schedules import WarmSchedule
from infra.service import Service, ServiceArgs
from infra.settings import ROOT, Settings, load_settings
from infra.versions import Versions, VersionsArgs
from infra.warming import Warming, WarmingArgs

FUNCTION_DIR = ROOT / "function"
"""The image's build context: the handler, the captioner package, the models, the Dockerfile."""


def captioner_settings(**values: object) -> Settings:
    """Settings from code, by `Settings` field name (`memory_size=3008`), over the defaults in
    lukewarm's `Pulumi.yaml`, validated exactly as stack config is: a bad value raises
    `SettingsError` naming the key, the value and what is allowed."""
    keys = {field.name: field.metadata["key"] for field in dataclasses.fields(Settings)}
    unknown = sorted(set(values) - set(keys))
    if unknown:
        raise TypeError(f"unknown setting {', '.join(unknown)}; known: {', '.join(sorted(keys))}")
    return load_settings({keys[name]: _raw(value) for name, value in values.items()})


def _raw(value: object) -> object:
    """A value as config holds it (warm windows as mappings)."""
    if isinstance(value, list | tuple):
        return [_raw(item) for item in value]
    if isinstance(value, WarmSchedule):
        return {
            "schedule": value.schedule,
            "concurrency": value.concurrency,
            "timezone": value.timezone,
        }
    return value


@dataclass
class CaptionerArgs:
    settings: Settings
    """Everything that can be configured, validated: from stack config (`from_pulumi_config`)
    or from code (`captioner_settings(...)`)."""
    function_dir: Path = FUNCTION_DIR
    """The image's build context, with its Dockerfile; `settings.model_dir` is inside it."""


@dataclass
class CaptionerParts:
    """The components a captioner is made of, for programs that reach into one of them."""

    image: Image
    service: Service
    api: Api
    warming: Warming | None
    """None when `settings.warm_schedules` is empty."""
    versions: Versions
    """The version pruner, on every stack."""


def captioner_parts(
    args: CaptionerArgs, prefix: str = "", parent: pulumi.Resource | None = None
) -> CaptionerParts:
    """Create the captioner's components, named `<prefix>image`, `<prefix>service`, ...

    lukewarm's own program calls this with no prefix and no parent, so that stacks deployed
    before the `Captioner` component existed keep every resource (and log group) they have;
    `Captioner` calls it with its own name as prefix and itself as parent.
    """
    settings = args.settings
    child = pulumi.ResourceOptions(parent=parent)
    # Relative to the working directory (the project's, under `pulumi up`), so that the
    # paths recorded in a stack's state do not depend on where the checkout lives.
    context = os.path.relpath(args.function_dir)
    image = Image(
        f"{prefix}image",
        ImageArgs(
            context=context,
            dockerfile=os.path.join(context, "Dockerfile"),
            platform=settings.platform,
            model_dir=settings.model_dir,
            runtime=settings.runtime,
            keep_images=settings.keep_images,
        ),
        opts=child,
    )
    service = Service(
        f"{prefix}service",
        ServiceArgs(
            image_uri=image.image_uri,
            architecture=settings.architecture,
            runtime=settings.runtime,
            memory_size=settings.memory_size,
            timeout=settings.timeout,
            reserved_concurrency=settings.reserved_concurrency,
            provisioned_concurrency=settings.provisioned_concurrency,
            log_retention_days=settings.log_retention_days,
            log_level=settings.log_level,
            snap_start=settings.snap_start,
        ),
        opts=child,
    )
    api = Api(
        f"{prefix}api",
        ApiArgs(
            function_name=service.function_name,
            alias_name=service.alias_name,
            alias_arn=service.alias_arn,
            throttle_rate=settings.throttle_rate,
            throttle_burst=settings.throttle_burst,
            cors_origins=settings.cors_origins,
            auth=settings.auth,
            jwt_issuer=settings.jwt_issuer,
            jwt_audience=settings.jwt_audience,
        ),
        opts=child,
    )
    warming = None
    if settings.warm_schedules:
        warming = Warming(
            f"{prefix}warming",
            WarmingArgs(
                function_name=service.function_name,
                function_arn=service.function_arn,
                alias_name=service.alias_name,
                alias_arn=service.alias_arn,
                alias_version=service.alias_version,
                function_timeout=settings.timeout,
                image_uri=image.image_uri,
                schedules=settings.warm_schedules,
                hold_ms=settings.warm_hold_ms,
                prewarm_on_deploy=settings.prewarm_on_deploy,
                log_retention_days=settings.log_retention_days,
            ),
            opts=child,
        )
    # Every deploy publishes a version; one published under SnapStart keeps a snapshot billed
    # until the version is deleted, even after SnapStart is off: delete all but the newest few.
    versions = Versions(
        f"{prefix}versions",
        VersionsArgs(
            function_name=service.function_name,
            function_arn=service.function_arn,
            alias_version=service.alias_version,
            keep=settings.snap_start_versions,
            log_retention_days=settings.log_retention_days,
        ),
        opts=child,
    )
    return CaptionerParts(image, service, api, warming, versions)


class Captioner(pulumi.ComponentResource):
    """lukewarm's captioning service: an image captioner on Lambda behind an HTTP API, kept
    luke-warm, its image built from `function_dir` and deployed by digest."""

    url: pulumi.Output[str]
    caption_url: pulumi.Output[str]
    function_name: pulumi.Output[str]
    alias_arn: pulumi.Output[str]
    """The `live` alias: what the API and the warmer invoke."""
    image_uri: pulumi.Output[str]
    warmer_name: pulumi.Output[str] | None
    parts: CaptionerParts

    def __init__(
        self, name: str, args: CaptionerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("lukewarm:index:Captioner", name, None, opts)
        self.parts = captioner_parts(args, prefix=f"{name}-", parent=self)
        self.url = self.parts.api.url
        self.caption_url = self.parts.api.caption_url
        self.function_name = self.parts.service.function_name
        self.alias_arn = self.parts.service.alias_arn
        self.image_uri = self.parts.image.image_uri
        self.warmer_name = self.parts.warming.warmer_name if self.parts.warming else None
        self.register_outputs(
            {"url": self.url, "function_name": self.function_name, "alias_arn": self.alias_arn}
        )
