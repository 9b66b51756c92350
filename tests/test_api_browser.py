"""Headless Chromium drives the page served by the real server (stub model): upload, see the result.

Needs Debian's chromium and chromium-driver. Skipped when they are missing, except under CI=true,
where a missing browser is a failure. Saves docs/api_page.png (a screenshot for the README).
"""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from mrcnn_api.testing import run_stub_server
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "api_page.png"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _require_browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python package selenium")
    if missing:
        reason = f"browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def balloon_scene(path, width=480, height=360):
    """A sky gradient with a few coloured balloons, saved as JPEG."""
    sky = np.linspace([120, 170, 235], [215, 235, 255], height).astype(np.uint8)
    image = Image.fromarray(np.repeat(sky[:, None, :], width, axis=1))
    draw = ImageDraw.Draw(image)
    for cx, cy, r, color in [
        (120, 110, 55, (220, 40, 60)),
        (250, 170, 65, (250, 190, 30)),
        (380, 120, 50, (60, 120, 220)),
    ]:
        draw.ellipse((cx - r, cy - r * 1.2, cx + r, cy + r * 1.2), fill=color)
        draw.line((cx, cy + r * 1.2, cx + 8, height), fill=(80, 80, 80), width=2)
    image.save(path, format="JPEG", quality=92)
    return path


@pytest.fixture
def driver():
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mrcnn-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--no-first-run",
        "--window-size=1200,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_upload_shows_overlay_and_percentages(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    image_path = balloon_scene(tmp_path / "balloons.jpg")
    with run_stub_server(threads=2, env={"MRCNN_API_TOKEN": ""}) as url:
        driver.get(url)
        assert "Mask R-CNN" in driver.title
        driver.find_element(By.ID, "file").send_keys(str(image_path))
        driver.find_element(By.ID, "submit").click()
        wait = WebDriverWait(driver, 20)
        wait.until(EC.visibility_of_element_located((By.ID, "result")))
        wait.until(
            lambda d: d.execute_script(
                "var i = document.getElementById('overlay'); return i.complete && i.naturalWidth > 0;"
            )
        )

        overlay = driver.find_element(By.ID, "overlay")
        assert overlay.get_attribute("src").startswith("data:image/png;base64,")
        assert driver.execute_script("return document.getElementById('overlay').naturalWidth;") == 480
        # The stub's two overlapping squares cover 7/16 of the image.
        assert driver.find_element(By.ID, "masked-percent").text == "43.75 %"
        assert driver.find_element(By.ID, "unmasked-percent").text == "56.25 %"
        rows = driver.find_elements(By.CSS_SELECTOR, "#instances tbody tr")
        assert len(rows) == 2 and "balloon" in rows[0].text
        assert driver.find_element(By.ID, "error").text == ""

        SCREENSHOT.parent.mkdir(exist_ok=True)
        partial = SCREENSHOT.with_suffix(".tmp.png")
        assert driver.save_screenshot(str(partial))
        os.replace(partial, SCREENSHOT)
    assert Image.open(SCREENSHOT).size[0] > 0
