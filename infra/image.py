"""The function's container image: an ECR repository and the image built and pushed to it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
from pulumi_aws import ecr

SINGLE_MANIFEST_BUILD_ARGS = {"BUILDKIT_MULTI_PLATFORM": "false"}
"""Lambda refuses a digest that names an image index. `docker.Image` builds through the
Docker Engine API, which asks BuildKit for no provenance or SBOM attestations (the usual
source of an index: buildx adds provenance by default); of what remains, the one switch
that wraps a single-platform result in an index is BuildKit's multi-platform opt-in,
pinned off here. The provider exposes no output or attestation options beyond that:
docs/deploy.md, "The image manifest", says how to check the pushed manifest."""

_DIGEST_URI = re.compile(r"(?P<repository>[^@\s]+)@sha256:[0-9a-f]{64}")


def digest_uri(repo_digest: str) -> str:
    """Check that an image reference is `repository@sha256:<digest>`, the form Lambda pins.

    A tag (`repo:tag`) never redeploys the function when the image changes, and
    `repo:tag@sha256:...` is rejected by Lambda.
    """
    match = _DIGEST_URI.fullmatch(repo_digest or "")
    if match is None or ":" in match["repository"].rsplit("/", 1)[-1]:
        raise ValueError(
            f"expected an image reference repository@sha256:<digest>, got {repo_digest!r}"
        )
    return repo_digest


@dataclass
class ImageArgs:
    context: str
    """Build context, relative to the project directory (the function/ directory)."""
    dockerfile: str
    """Dockerfile path, relative to the project directory."""
    platform: str
    """`linux/amd64` or `linux/arm64`: exactly one, the function's architecture."""
    model_dir: str
    """Model directory inside the context, passed to the build as MODEL_DIR."""
    runtime: str
    """`onnx` or `torch`, passed to the build as RUNTIME: the image installs only its own."""
    keep_images: int
    """How many images the repository keeps; older ones expire."""


class Image(pulumi.ComponentResource):
    """An ECR repository and the function image in it, addressed by digest."""

    repository_url: pulumi.Output[str]
    image_uri: pulumi.Output[str]
    """`repository@sha256:...`: changes exactly when the image content does."""

    def __init__(
        self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("lukewarm:index:Image", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        repository = ecr.Repository(
            f"{name}-repo",
            image_scanning_configuration=ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            # Every push moves the one tag, so the tag must be mutable; the function
            # is deployed by digest, so nothing depends on what the tag points at.
            image_tag_mutability="MUTABLE",
            # `pulumi destroy` removes the repository even though it still holds images.
            force_delete=True,
            opts=child,
        )
        ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": f"Keep the newest {args.keep_images} images",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": args.keep_images,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
            opts=child,
        )
        token = ecr.get_authorization_token_output(registry_id=repository.registry_id)
        image = docker.Image(
            f"{name}-build",
            image_name=repository.repository_url.apply(lambda url: f"{url}:latest"),
            build=docker.DockerBuildArgs(
                context=args.context,
                dockerfile=args.dockerfile,
                platform=args.platform,
                args={
                    "MODEL_DIR": args.model_dir,
                    "RUNTIME": args.runtime,
                    **SINGLE_MANIFEST_BUILD_ARGS,
                },
            ),
            registry=docker.RegistryArgs(
                server=token.proxy_endpoint,
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            ),
            opts=child,
        )

        self.repository_url = repository.repository_url
        self.image_uri = image.repo_digest.apply(digest_uri)
        self.register_outputs({"repository_url": self.repository_url, "image_uri": self.image_uri})
