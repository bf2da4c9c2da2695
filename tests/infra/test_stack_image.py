"""infra/image.py: the ECR repository and the image built for the function's architecture."""

from __future__ import annotations

import json

import pytest

from infra.image import digest_uri
from infra.mocks import (
    DOCKER_IMAGE,
    ECR_LIFECYCLE_POLICY,
    ECR_PASSWORD,
    ECR_REPOSITORY,
    FUNCTION,
    REGISTRY,
    deploy,
    is_secret,
    unsecret,
)


def test_repository_scans_on_push_and_is_deleted_with_the_stack() -> None:
    repository = deploy().one(ECR_REPOSITORY)
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["forceDelete"] is True


def test_lifecycle_policy_keeps_the_configured_number_of_images() -> None:
    deployment = deploy({"keepImages": 3})
    policy = json.loads(deployment.one(ECR_LIFECYCLE_POLICY)["policy"])

    (rule,) = policy["rules"]
    assert rule["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 3,
    }
    assert rule["action"] == {"type": "expire"}


@pytest.mark.parametrize(
    ("architecture", "platform"), [("x86_64", "linux/amd64"), ("arm64", "linux/arm64")]
)
def test_image_is_built_for_exactly_the_functions_architecture(
    architecture: str, platform: str
) -> None:
    deployment = deploy({"architecture": architecture})
    build = deployment.one(DOCKER_IMAGE)["build"]

    assert build["platform"] == platform
    assert deployment.one(FUNCTION, "service-function")["architectures"] == [architecture]


def test_image_is_built_from_function_dir_with_the_model_dir() -> None:
    build = deploy({"modelDir": "models/demo"}).one(DOCKER_IMAGE)["build"]

    assert build["context"] == "function"
    assert build["dockerfile"] == "function/Dockerfile"
    assert build["args"]["MODEL_DIR"] == "models/demo"


def test_image_is_pushed_to_the_repository_with_the_token_kept_secret() -> None:
    deployment = deploy()
    image = deployment.one(DOCKER_IMAGE)
    repository_url = f"{REGISTRY}/{deployment.state(ECR_REPOSITORY, 'image-repo')['name']}"

    assert image["imageName"] == f"{repository_url}:latest"
    assert is_secret(image["registry"])
    assert unsecret(image["registry"]) == {
        "server": f"https://{REGISTRY}",
        "username": "AWS",
        "password": ECR_PASSWORD,
    }


def test_function_runs_the_image_by_digest() -> None:
    deployment = deploy()
    image_uri = deployment.one(FUNCTION, "service-function")["imageUri"]
    repository = deployment.state(ECR_REPOSITORY, "image-repo")["name"]
    (image,) = deployment.of_type(DOCKER_IMAGE)

    # Exactly the digest the push produced: a new image is a new digest, and redeploys.
    assert image_uri == deployment.state(DOCKER_IMAGE, image.name)["repoDigest"]
    assert image_uri.startswith(f"{REGISTRY}/{repository}@sha256:")
    assert image_uri == deployment.outputs["image_uri"]
    assert digest_uri(image_uri) == image_uri


@pytest.mark.parametrize(
    "reference",
    [
        f"{REGISTRY}/lukewarm:latest",
        f"{REGISTRY}/lukewarm:latest@sha256:{'a' * 64}",
        f"{REGISTRY}/lukewarm@sha256:{'a' * 12}",
        "",
    ],
)
def test_anything_but_a_digest_reference_is_refused(reference: str) -> None:
    with pytest.raises(ValueError, match="expected an image reference repository@sha256:"):
        digest_uri(reference)
