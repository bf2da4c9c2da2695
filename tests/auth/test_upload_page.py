"""The upload page under auth, in headless Chromium: it asks for a token under jwt and says
what to use instead under iam."""

from __future__ import annotations

import time

import pytest

from tests.auth.conftest import Issuer
from tests.browser.test_upload_page import browser, choose, wait_for

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with the page's other browser tests


def submit_token(browser, token: str) -> None:
    field = browser.find_element("id", "token")
    field.clear()
    field.send_keys(token)
    browser.find_element("css selector", "#token-form button").click()


def test_under_jwt_the_page_asks_for_a_token_and_sends_it(
    browser, jwt_stack, issuer: Issuer, photos
) -> None:
    choose(browser, jwt_stack.url, photos["retina"])

    assert wait_for(browser, "token-reason") == (
        "This API needs a token (lukewarm:auth jwt): paste one from its issuer."
    )
    assert not browser.find_element("id", "result").is_displayed()

    submit_token(browser, issuer.token(exp=int(time.time()) - 60))
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(
        lambda driver: "refused" in driver.find_element("id", "token-reason").text
    )
    assert browser.find_element("id", "token-reason").text == (
        "The token was refused (the token has expired): paste a new one."
    )

    submit_token(browser, issuer.token())
    assert wait_for(browser, "caption")
    assert browser.find_element("id", "token-reason").text == "Each photo is sent with this token."


def test_under_iam_the_page_says_browsers_need_jwt_or_none(browser, iam_stack, photos) -> None:
    choose(browser, iam_stack.url, photos["retina"])

    error = wait_for(browser, "error")

    assert "browser uploads need auth jwt or none" in error
    assert "lukewarm caption --auth iam URL IMAGE" in error
    assert not browser.find_element("id", "token-form").is_displayed()
