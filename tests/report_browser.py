"""Drive a Snakemake 9 HTML report in headless Chromium (selenium + the Debian chromedriver).

The report is one page holding a React app: a left navbar with a menu (General: Workflow,
Statistics, About; Results: one link per category, or a single "Results" link when there is one
category), and a content pane. Clicking a category shows either its subcategories (more links) or,
with one subcategory, a table of its items; each item row has an "eye" button. The eye shows an
image item as an <img> in the content pane and an HTML/PDF item in an <iframe> (data: URIs); any
other type (.tsv, .csv, ...) only gets a download link. The report's own data lie in the page's
global `categories` ({category: {subcategory: [path]}}) and `results` ({path: {mime_type, ...}}).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Without the background-networking flags Chromium calls home, and this machine's closed
# network refuses those connections.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-dev-shm-usage",
)  # fmt: skip
VIEWPORT = (1280, 800)  # CSS pixels, device scale factor 1: screenshots are this size
WAIT_S = 30
IMAGE_TYPES = {"image/png", "image/jpeg", "image/svg+xml"}


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when Chromium, chromedriver and selenium are."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: install the Debian package {package} (see .ci/run)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -r requirements/lock.txt"
    return None


def require_chromium() -> None:
    """Skip the test loudly when the browser is missing; under CI (CI=true) fail it instead.
    (The rule of tests/conftest.py's missing_asset; `conftest` is not importable by name here:
    several test folders have one.)"""
    reason = chromium_missing()
    if reason is None:
        return
    reason = f"cannot open the report in a browser: {reason}"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"missing test asset under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@contextmanager
def headless_chromium(profile_dir: Path) -> Iterator:
    """A selenium Chrome driver on a fresh headless Chromium profile in `profile_dir`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        width, height = VIEWPORT
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        yield driver
    finally:
        driver.quit()


def png_pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


class ReportPage:
    """One Snakemake report opened in `driver`, navigated by clicking as a reader would."""

    def __init__(self, driver, report: Path):
        self.driver = driver
        driver.get(report.resolve().as_uri())
        self.wait_for(lambda d: d.execute_script("return document.readyState") == "complete")
        self.wait_for(lambda d: self._nav_links(), "the navbar menu")

    # --- the report's own data -------------------------------------------------------------
    def categories(self) -> dict[str, dict[str, list[str]]]:
        return self.driver.execute_script("return categories")

    def mime_types(self) -> dict[str, str]:
        return self.driver.execute_script(
            "return Object.fromEntries(Object.entries(results).map(([p, r]) => [p, r.mime_type]))"
        )

    # --- navigation --------------------------------------------------------------------------
    def wait_for(self, condition, what: str = "the page"):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT_S).until(
            condition, f"timed out after {WAIT_S} s waiting for {what}"
        )

    def home(self) -> None:
        """Back to the main menu (the house icon of the breadcrumbs)."""
        self._breadcrumb_links()[0].click()
        self.wait_for(lambda d: "Statistics" in self.menu_links(), "the main menu")

    def menu_links(self) -> list[str]:
        """Texts of the navbar's menu links (main menu, or a category's subcategories)."""
        return [link.text.strip() for link in self._nav_links()]

    def open_category(self, category: str) -> None:
        """From the main menu, click `category` (the single "Results" link for one category)."""
        single = len(self.categories()) == 1
        self._click_nav_link("Results" if single else category)
        if len(self.categories()[category]) == 1:
            self.wait_for(lambda d: self._item_rows() is not None, f"the items of {category}")
        else:
            self.wait_for(lambda d: "Statistics" not in self.menu_links(), f"{category}'s menu")

    def open_subcategory(self, category: str, subcategory: str) -> None:
        """From a category's menu, click `subcategory`."""
        self._click_nav_link(subcategory)
        self.wait_for(lambda d: self._item_rows() is not None, f"the items of {subcategory}")

    def back_to_category(self, category: str) -> None:
        """From a subcategory's items, back to the category's menu (its breadcrumb)."""
        links = [a for a in self._breadcrumb_links() if a.text.strip() == category]
        assert links, f"no breadcrumb for {category}"
        links[0].click()
        self.wait_for(lambda d: self._item_rows() is None, f"{category}'s menu")

    def listed_items(self) -> list[str]:
        """The item rows shown for the open (sub)category: their first cell (the path, or the
        first label value for items with labels)."""
        rows = self._item_rows()
        assert rows is not None, "no item table in the navbar"
        return [row.find_elements("css selector", "td")[0].text.strip() for row in rows]

    def view(self, label: str) -> None:
        """Click the eye button of the listed item `label`."""
        self._eye(label).click()

    def eye_target(self, label: str) -> dict:
        """href and download attributes of item `label`'s eye button (a download link for types
        the report cannot show)."""
        eye = self._eye(label)
        return {"href": eye.get_attribute("href"), "download": eye.get_attribute("download")}

    # --- what the content pane shows --------------------------------------------------------------
    def displayed_image(self, path: str):
        """Wait until the content pane shows item `path` as a loaded <img>; return the element and
        its natural size."""
        script = (
            "const img = [...document.images].find(i => !i.closest('nav') &&"
            " i.getAttribute('src') === results[arguments[0]].data_uri);"
            "return img && img.complete ? [img, img.naturalWidth, img.naturalHeight] : null;"
        )
        img, width, height = self.wait_for(
            lambda d: d.execute_script(script, path), f"the image of {path}"
        )
        return img, (width, height)

    def displayed_frame(self, path: str):
        """Wait until the content pane shows item `path` in an <iframe>; return the element."""
        script = (
            "return [...document.querySelectorAll('iframe')].find(f =>"
            " f.getAttribute('src') === results[arguments[0]].data_uri) || null;"
        )
        return self.wait_for(lambda d: d.execute_script(script, path), f"the frame of {path}")

    def frame_contents(self, frame) -> dict:
        """Text and tables (rows of cell texts, header row included) of the page in `frame`."""
        self.driver.switch_to.frame(frame)
        try:
            self.wait_for(
                lambda d: d.execute_script("return document.readyState") == "complete",
                "the framed page",
            )
            return self.driver.execute_script(
                "return {text: document.body.innerText, tables: [...document.querySelectorAll('table')].map(t =>"
                " [...t.rows].map(r => [...r.cells].map(c => c.innerText.trim())))};"
            )
        finally:
            self.driver.switch_to.default_content()

    def screenshot(self) -> np.ndarray:
        """The viewport as an RGB array (VIEWPORT sized)."""
        return png_pixels(self.driver.get_screenshot_as_png())

    def console_errors(self) -> list[str]:
        """SEVERE browser-console messages since the last call (failed loads, script errors)."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    # --- DOM helpers ------------------------------------------------------------------------------
    def _content_nav(self):
        # The navbar <nav> holds the breadcrumbs <nav> and, below it, the menu or the item table.
        return self.driver.find_element("css selector", "nav:has(> h1)")

    def _nav_links(self):
        return self._content_nav().find_elements("css selector", ":scope > div > div ul > li > a")

    def _breadcrumb_links(self):
        return self._content_nav().find_elements("css selector", "nav ol li a")

    def _item_rows(self):
        tables = self._content_nav().find_elements("css selector", ":scope > div > div table")
        return tables[0].find_elements("css selector", "tbody > tr") if tables else None

    def _eye(self, label: str):
        rows = [
            row
            for row in self._item_rows() or []
            if row.find_elements("css selector", "td")[0].text.strip() == label
        ]
        assert len(rows) == 1, f"{label!r} is listed {len(rows)} times"
        return rows[0].find_element("css selector", "a[iconname='eye']")

    def _click_nav_link(self, text: str) -> None:
        links = [a for a in self._nav_links() if a.text.strip() == text]
        assert len(links) == 1, (
            f"menu link {text!r} found {len(links)} times in {self.menu_links()}"
        )
        links[0].click()
