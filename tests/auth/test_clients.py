"""`lukewarm caption` and `lukewarm probe` against local stacks with auth: what a person sees."""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import pytest

from infra.settings import ROOT
from lukewarm import auth
from lukewarm.__main__ import main
from lukewarm.localstack.process import StackProcess
from tests.auth.conftest import AUDIENCE, Issuer, printed_credentials


def caption(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(["caption", *arguments])
    out, err = capsys.readouterr()
    return code, out, err


def use_credentials(env: pytest.MonkeyPatch, stack: StackProcess, **overrides: str) -> None:
    for name, value in {**printed_credentials(stack), **overrides}.items():
        env.setenv(name, value)


# --- iam ------------------------------------------------------------------------------------


def test_caption_signs_with_the_credential_chain(aws_env, iam_stack, photos, capsys) -> None:
    use_credentials(aws_env, iam_stack)
    code, out, err = caption(capsys, "--auth", "iam", iam_stack.url, str(photos["coffee"]))

    assert code == 0, err
    assert out.startswith(f"{photos['coffee']}: ")


def test_caption_signs_with_a_profile_and_region_flag(
    aws_env, iam_stack, photos, capsys, tmp_path
) -> None:
    credentials = printed_credentials(iam_stack)
    profiles = tmp_path / "credentials"
    profiles.write_text(
        "[local]\n"
        f"aws_access_key_id = {credentials['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {credentials['AWS_SECRET_ACCESS_KEY']}\n"
    )
    aws_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(profiles))
    aws_env.setenv("AWS_PROFILE", "local")
    code, _, err = caption(
        capsys, "--auth", "iam", "--region", "us-east-1", iam_stack.url, str(photos["coffee"])
    )

    assert code == 0, err


def test_unsigned_caption_against_iam_says_to_sign(aws_env, iam_stack, photos, capsys) -> None:
    code, out, err = caption(capsys, iam_stack.url, str(photos["coffee"]))

    assert code == 1
    assert out == ""
    assert err == (
        f"lukewarm caption: {photos['coffee']}: server answered 403 Forbidden: the API wants "
        "SigV4-signed requests (its auth is iam): pass --auth iam, or --stack NAME\n"
    )


def test_a_refused_signature_names_the_key_and_what_to_check(
    aws_env, iam_stack, photos, capsys
) -> None:
    use_credentials(aws_env, iam_stack, AWS_SECRET_ACCESS_KEY="not-the-stacks-secret")
    key_id = printed_credentials(iam_stack)["AWS_ACCESS_KEY_ID"]
    code, _, err = caption(capsys, "--auth", "iam", iam_stack.url, str(photos["coffee"]))

    assert code == 1
    assert err == (
        f"lukewarm caption: {photos['coffee']}: server answered 403 Forbidden: the API refused "
        f"the SigV4 signature of access key {key_id} (from env) for us-east-1: the caller needs "
        "execute-api:Invoke on this route (attach the stack's invoke_policy_arn output), the "
        "API's region, and a clock within 5 minutes of AWS's\n"
    )
    assert "not-the-stacks-secret" not in err


def test_iam_without_credentials_or_region_is_refused_before_sending(
    aws_env, iam_stack, photos, capsys
) -> None:
    requests_before = len(iam_stack.request_lines())
    code, _, err = caption(capsys, "--auth", "iam", iam_stack.url, str(photos["coffee"]))
    assert code == 2
    assert "auth iam needs AWS credentials, and the standard chain found none" in err

    use_credentials(aws_env, iam_stack)
    aws_env.delenv("AWS_DEFAULT_REGION")
    code, _, err = caption(capsys, "--auth", "iam", iam_stack.url, str(photos["coffee"]))
    assert code == 2
    assert err == (
        "lukewarm caption: auth iam needs the region to sign for: pass --region, --stack NAME, "
        "or set AWS_DEFAULT_REGION (the local stack prints its own)\n"
    )
    time.sleep(0.2)
    assert len(iam_stack.request_lines()) == requests_before


def test_the_region_comes_from_a_deployed_url() -> None:
    assert auth.url_region("https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/") == (
        "eu-central-1"
    )
    assert auth.url_region("https://captions.example.com/") is None
    assert auth.url_region("http://127.0.0.1:8080/") is None


def test_the_stack_file_gives_auth_and_region(aws_env, tmp_path, monkeypatch) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    (tmp_path / "Pulumi.prod.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  lukewarm:auth: iam\n"
    )
    monkeypatch.chdir(tmp_path)
    aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "s" * 40)
    args = argparse.Namespace(auth=None, token=None, region=None, stack="prod")

    signer = auth.from_args(args, "https://captions.example.com/caption")
    assert isinstance(signer, auth.SigV4)
    assert signer.region == "eu-west-1"
    headers = signer.headers("POST", "https://captions.example.com/caption", b"x", {})
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    # The URL's own region wins over the stack's: it is where the request goes.
    deployed = "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/caption"
    assert auth.from_args(args, deployed).region == "eu-central-1"  # type: ignore[union-attr]


# --- jwt ------------------------------------------------------------------------------------


def test_caption_sends_the_token_from_the_environment(
    aws_env, jwt_stack, issuer: Issuer, photos, capsys
) -> None:
    aws_env.setenv("LUKEWARM_TOKEN", issuer.token())
    code, out, err = caption(capsys, jwt_stack.url, str(photos["coffee"]))

    assert code == 0, err
    assert out.startswith(f"{photos['coffee']}: ")


def test_caption_sends_the_token_flag(aws_env, jwt_stack, issuer: Issuer, photos, capsys) -> None:
    code, _, err = caption(capsys, "--token", issuer.token(), jwt_stack.url, str(photos["coffee"]))

    assert code == 0, err


def test_caption_without_a_token_says_how_to_give_one(aws_env, jwt_stack, photos, capsys) -> None:
    code, _, err = caption(capsys, jwt_stack.url, str(photos["coffee"]))

    assert code == 1
    assert err == (
        f"lukewarm caption: {photos['coffee']}: server answered 401 Unauthorized: the API wants "
        "a bearer token (its auth is jwt): pass --token JWT or set LUKEWARM_TOKEN\n"
    )


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 5}, "the token has expired"),
        ({"aud": "someone-else"}, "the token does not have a valid audience"),
        ({"iss": "https://other.example.com/"}, "the token does not have a valid issuer"),
    ],
)
def test_a_refused_token_says_what_was_wrong(
    aws_env, jwt_stack, issuer: Issuer, photos, capsys, claims, reason
) -> None:
    token = issuer.token(**claims)
    code, _, err = caption(capsys, "--token", token, jwt_stack.url, str(photos["coffee"]))

    assert code == 1
    assert err == (
        f"lukewarm caption: {photos['coffee']}: server answered 401 Unauthorized: {reason}; "
        "get a new token from the stack's jwtIssuer for its jwtAudience\n"
    )
    assert token not in err


def test_auth_jwt_without_a_token_is_refused_before_sending(aws_env, jwt_stack, photos, capsys):
    code, _, err = caption(capsys, "--auth", "jwt", jwt_stack.url, str(photos["coffee"]))

    assert code == 2
    assert err == (
        "lukewarm caption: auth jwt needs a token: pass --token JWT or set LUKEWARM_TOKEN (an "
        "access or ID token from the stack's jwtIssuer, for its jwtAudience)\n"
    )


def test_a_token_is_not_sent_with_iam(aws_env, iam_stack, photos, capsys) -> None:
    code, _, err = caption(capsys, "--auth", "iam", "--token", "t", iam_stack.url, "x.png")

    assert code == 2
    assert "--token is for auth jwt; auth iam signs with your AWS credentials" in err


# --- probe ----------------------------------------------------------------------------------


def probe(tmp_path: Path, url: str, *arguments: str) -> int:
    return main(
        ["probe", url, "--count", "2", "--gap-min", "0", "--gap-max", "0",
         "--out", str(tmp_path / "out") + "/", *arguments]
    )  # fmt: skip


def test_probe_signs_every_request(aws_env, iam_stack, tmp_path, capsys) -> None:
    use_credentials(aws_env, iam_stack)
    code = probe(tmp_path, iam_stack.url, "--auth", "iam")
    _, err = capsys.readouterr()
    report = json.loads((tmp_path / "out" / "report.json").read_text())

    assert code == 0, err
    assert [sample["status"] for sample in report["requests"]] == [200, 200]


def test_probe_sends_the_token_with_every_request(
    aws_env, jwt_stack, issuer: Issuer, tmp_path, capsys
) -> None:
    aws_env.setenv("LUKEWARM_TOKEN", issuer.token())
    code = probe(tmp_path, jwt_stack.url)
    _, err = capsys.readouterr()
    report = json.loads((tmp_path / "out" / "report.json").read_text())

    assert code == 0, err
    assert [sample["status"] for sample in report["requests"]] == [200, 200]


def test_probe_refused_at_its_first_request_stops_before_the_wait(
    aws_env, jwt_stack, tmp_path, capsys
) -> None:
    started = time.monotonic()
    code = main(["probe", jwt_stack.url, "--count", "3", "--gap-min", "600", "--gap-max", "600",
                 "--out", str(tmp_path / "out") + "/"])  # fmt: skip
    _, err = capsys.readouterr()

    assert code == 1
    assert time.monotonic() - started < 60
    assert err.splitlines()[-1] == (
        "lukewarm probe: server answered 401 Unauthorized: the API wants a bearer token (its "
        "auth is jwt): pass --token JWT or set LUKEWARM_TOKEN"
    )
    assert not (tmp_path / "out" / "report.json").exists()
    assert AUDIENCE not in err


def test_a_token_with_whitespace_in_it_is_refused_before_sending(
    aws_env, jwt_stack, photos, capsys
) -> None:
    aws_env.setenv("LUKEWARM_TOKEN", "aaa.bbb\nccc")
    code, _, err = caption(capsys, jwt_stack.url, str(photos["coffee"]))

    assert code == 2
    assert err == (
        "lukewarm caption: the token must be one word (a JWT is three base64url parts joined "
        "by dots); check --token or LUKEWARM_TOKEN\n"
    )


def test_credentials_that_fail_to_refresh_are_one_line_not_a_traceback(jwt_stack, photos) -> None:
    from botocore.exceptions import TokenRetrievalError

    from lukewarm.http import CaptionError, post_image

    class ExpiredSso:
        method = "sso"

        def get_frozen_credentials(self) -> None:
            raise TokenRetrievalError(provider="sso", error_msg="the SSO session has expired")

        @property
        def access_key(self) -> str:
            raise TokenRetrievalError(provider="sso", error_msg="the SSO session has expired")

    signer = auth.SigV4(ExpiredSso(), "us-east-1")
    with pytest.raises(CaptionError) as refused:
        post_image(jwt_stack.url + "caption", b"x", "image/png", auth=signer)

    assert str(refused.value) == (
        "cannot sign: the AWS credentials could not be read (Error when retrieving token from "
        "sso: the SSO session has expired)"
    )
    assert signer.identity == "access key ? (from sso)"
