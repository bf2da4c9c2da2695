"""`lukewarm caption`: what a person sees for good images, bad files and broken servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lukewarm.__main__ import main
from lukewarm.http import caption_url, image_content_type

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "given",
    [
        "http://h:1/prod",
        "http://h:1/prod/",
        "http://h:1/prod/caption",
        "http://h:1/prod/caption/",
    ],
)
def test_every_spelling_of_the_url_reaches_the_caption_route(given: str) -> None:
    assert caption_url(given) == "http://h:1/prod/caption"


def test_content_type_comes_from_the_bytes_not_the_name(photos: dict[str, Path]) -> None:
    assert image_content_type(photos["coffee"].read_bytes()) == "image/png"
    assert image_content_type(photos["retina"].read_bytes()) == "image/jpeg"
    assert image_content_type(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert image_content_type(b"%PDF-1.7") is None


def test_prints_one_caption_line_per_image(fake_api, photos, capsys) -> None:
    code = main(["caption", fake_api.url("ok"), str(photos["coffee"]), str(photos["retina"])])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    size = photos["coffee"].stat().st_size
    assert lines == [
        f"{photos['coffee']}: a picture of {size} bytes",
        f"{photos['retina']}: a picture of {photos['retina'].stat().st_size} bytes",
    ]
    sent = fake_api.received[-2:]
    assert [r["content_type"] for r in sent] == ["image/png", "image/jpeg"]


def test_beam_and_alternatives_are_sent_and_alternatives_printed(fake_api, photos, capsys) -> None:
    code = main(
        ["caption", fake_api.url("ok"), str(photos["horse"]), "--beam", "5", "--alternatives", "2"]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert fake_api.received[-1]["query"] == "beam=5&alternatives=2"
    assert out.splitlines()[1:] == ["     -1.500  runner-up 1", "     -2.500  runner-up 2"]


def test_json_prints_the_whole_response(fake_api, photos, capsys) -> None:
    assert main(["caption", fake_api.url("ok"), str(photos["grass"]), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["image"] == str(photos["grass"])
    assert set(line["response"]) >= {"caption", "model", "timing_ms", "cold_start", "instance"}


def test_missing_and_non_image_files_fail_alone_and_are_never_sent(
    fake_api, photos, tmp_path, capsys
) -> None:
    notes = tmp_path / "notes.png"
    notes.write_text("not really a PNG")
    before = len(fake_api.received)
    code = main(
        [
            "caption",
            fake_api.url("ok"),
            str(tmp_path / "gone.jpg"),
            str(notes),
            str(photos["coffee"]),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert err.splitlines() == [
        f"lukewarm caption: {tmp_path / 'gone.jpg'}: no such file",
        f"lukewarm caption: {notes}: not an image (expected PNG, JPEG, GIF, WebP, BMP or TIFF)",
    ]
    assert out.startswith(f"{photos['coffee']}: a picture of")
    assert len(fake_api.received) == before + 1


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("fail", "server answered 500: model exploded (request abc123) (internal)"),
        ("big", "server answered 413: image over 4.5 MB (too_large)"),
        ("html", "server answered 200 with a text/html body, not the caption JSON"),
        ("nowhere", "server answered 404 Not Found"),
    ],
)
def test_server_errors_are_one_line_with_the_servers_message(
    fake_api, photos, capsys, mode, expected
) -> None:
    code = main(["caption", fake_api.url(mode), str(photos["horse"])])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == f"lukewarm caption: {photos['horse']}: {expected}\n"


def test_unreachable_url_is_one_line(closed_port_url, photos, capsys) -> None:
    assert main(["caption", closed_port_url, str(photos["horse"])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot reach" in err and "refused" in err.lower()


def test_slow_server_times_out_with_a_clear_message(fake_api, photos, capsys) -> None:
    assert main(["caption", fake_api.url("slow"), str(photos["horse"]), "--timeout", "0.3"]) == 1
    assert "no answer from" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--beam", "11"], "11 is outside 1-10"),
        (["--alternatives", "x"], "'x' is not a whole number"),
    ],
)
def test_bad_options_are_refused_before_anything_is_sent(photos, capsys, argv, message) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["caption", "http://127.0.0.1:9/", str(photos["horse"]), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_url_that_is_not_http_is_refused(photos, capsys) -> None:
    assert main(["caption", "ftp://example.com/", str(photos["horse"])]) == 2
    assert capsys.readouterr().err == "lukewarm caption: not an http(s) URL: 'ftp://example.com/'\n"


# --- against the real function behind the local stack ------------------------------------


def test_captions_real_photos_through_the_local_stack(local_stack, photos, capsys) -> None:
    names = ("coffee", "horse", "grass", "retina", "motorcycle")
    code = main(["caption", local_stack.url, *(str(photos[n]) for n in names), "--beam", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [str(photos[n]) for n in names]
    assert all(line.split(": ", 1)[1].strip() for line in lines)


def test_local_stack_json_carries_the_servers_timings(local_stack, photos, capsys) -> None:
    url = local_stack.url.rstrip("/") + "/caption"  # the full endpoint works too
    assert main(["caption", url, str(photos["horse"]), "--json", "--alternatives", "1"]) == 0
    response = json.loads(capsys.readouterr().out)["response"]
    assert response["timing_ms"]["total"] > 0
    assert isinstance(response["cold_start"], bool) and response["instance"]


def test_local_stack_refuses_a_corrupt_image_with_its_own_message(
    local_stack, photos, tmp_path, capsys
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(PNG_MAGIC + b"\x00" * 200)
    code = main(["caption", local_stack.url, str(broken), str(photos["grass"])])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith(f"lukewarm caption: {broken}: server answered 400: ")
    assert err.count("\n") == 1
    assert out.startswith(f"{photos['grass']}: ")  # the other image still got its caption


def test_an_oversized_file_is_refused_before_it_reaches_the_stack(
    local_stack, tmp_path, capsys
) -> None:
    huge = tmp_path / "huge.png"
    huge.write_bytes(PNG_MAGIC + b"\x00" * 5_000_000)
    requests_before = len(local_stack.request_lines())
    assert main(["caption", local_stack.url, str(huge)]) == 1
    assert "5,000,008 bytes, over the 4,700,000 (4.48 MiB)" in capsys.readouterr().err
    assert len(local_stack.request_lines()) == requests_before


# --- answers a client must survive -----------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("truncated", "the answer was cut short (15 of 1000 bytes)"),
        ("deep", "server answered 200 with JSON nested too deeply to read"),
        ("deep-error", "server answered 500 Internal Server Error"),
        ("hugeint", "server answered 200 with a number too large to read"),
        ("hugeint-error", "server answered 502 Bad Gateway"),
        ("wrongcaption", "server answered 200 with no caption text (caption is a int)"),
        (
            "wrongalternatives",
            "server answered 200 with a malformed alternative (score is a str, not a number)",
        ),
        (
            "alternativesobject",
            "server answered 200 with malformed alternatives (a dict, not a list)",
        ),
    ],
)
def test_a_broken_answer_is_one_line_and_a_failure(fake_api, photos, capsys, mode, expected):
    code = main(["caption", fake_api.url(mode), str(photos["horse"])])

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err == f"lukewarm caption: {photos['horse']}: {expected}\n"


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf", "soon"])
def test_a_timeout_that_is_no_positive_number_is_one_line_before_anything_is_sent(
    fake_api, photos, capsys, value
):
    code = main(["caption", fake_api.url("ok"), str(photos["horse"]), f"--timeout={value}"])

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == (
        f"lukewarm caption: --timeout must be a positive number of seconds, got {value!r}\n"
    )
    assert fake_api.received == []
