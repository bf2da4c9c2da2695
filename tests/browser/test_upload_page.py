"""The upload page end to end: headless Chromium, a real local stack, a photo, its caption."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import DEMO_MODEL_DIR

pytestmark = pytest.mark.browser

CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
# A cold instance imports torch first; on a busy 2-core machine that takes a while.
CAPTION_WAIT_S = 90


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = shutil.which("chromium")
    if chromium is None or not CHROMEDRIVER.is_file():
        pytest.skip(
            "needs Debian's chromium and chromium-driver "
            "(apt-get install chromium chromium-driver; .ci/run installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    # Both paths explicit, so selenium-manager never looks for (or downloads) anything.
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def choose(browser, url: str, photo: Path) -> None:
    browser.get(url)
    browser.find_element("id", "file").send_keys(str(photo))


def wait_for(browser, element_id: str) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(driver):
        element = driver.find_element("id", element_id)
        return element.is_displayed() and element.text.strip()

    return WebDriverWait(browser, CAPTION_WAIT_S).until(shown)


def test_choosing_a_photo_shows_its_caption(browser, local_stack, photos):
    choose(browser, local_stack.url, photos["retina"])

    caption = wait_for(browser, "caption")

    assert caption
    assert "ms" in browser.find_element("id", "timing").text
    assert not browser.find_element("id", "error").is_displayed()


def test_a_file_that_is_not_an_image_shows_an_error(browser, local_stack, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("these are notes, not a photo")
    choose(browser, local_stack.url, fake)

    error = wait_for(browser, "error")

    assert error
    assert not browser.find_element("id", "caption").is_displayed()


@pytest.mark.skipif(
    not (DEMO_MODEL_DIR / "weights.safetensors").is_file(),
    reason="the demo model is not in function/model yet (make demo-model)",
)
def test_the_demo_model_captions_generated_scenes(browser, local_stack_factory, tmp_path):
    from training.scenes import make_scene

    stack = local_stack_factory(no_warmer=True)
    scenes = [make_scene("evaluate", 1000003, index) for index in range(3)]
    right = 0
    for index, scene in enumerate(scenes):
        photo = tmp_path / f"scene-{index}.png"
        scene.image.save(photo)
        choose(browser, stack.url, photo)
        right += wait_for(browser, "caption") == scene.caption

    # The demo model gets about 95 % of held-out scenes exactly right.
    assert right >= 2
