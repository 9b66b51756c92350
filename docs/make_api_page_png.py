#!/usr/bin/env python
"""Make docs/api_page.png, the README's picture of the API page, with the real bundled model.

Serves the API on api/weights/balloon_mobilenet.h5, opens the page in headless Chromium, uploads a
balloon val photo and saves a screenshot of the result. Regenerate it after changing the page or the
bundled weights, from the repository root:

    apt-get install -y chromium chromium-driver   # Debian's browser and its driver; pip install selenium
    python docs/make_api_page_png.py [--photo ../shared/datasets/balloon/val/3825919971_93fb1ec581_b.jpg]

tests/test_api_browser.py drives the page with the same `browser` and `upload` helpers (on a stub model).
"""

import argparse
import os
import shutil
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "api_page.png"
PHOTO = ROOT.parent / "shared" / "datasets" / "balloon" / "val" / "3825919971_93fb1ec581_b.jpg"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--no-first-run",
    "--window-size=1200,900",
)


def missing_browser():
    """What is missing to drive Chromium (binary, driver, selenium), as a list of names."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python package selenium")
    return missing


@contextmanager
def browser(profile_dir):
    """A headless Chromium WebDriver whose profile lives in `profile_dir`; quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def upload(driver, url, image_path, timeout=20):
    """Open the page at `url`, submit `image_path` and wait until the overlay image has loaded."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    driver.find_element(By.ID, "file").send_keys(str(image_path))
    driver.find_element(By.ID, "submit").click()
    wait = WebDriverWait(driver, timeout)
    wait.until(EC.visibility_of_element_located((By.ID, "result")))
    loaded = "var i = document.getElementById('overlay'); return i.complete && i.naturalWidth > 0;"
    wait.until(lambda d: d.execute_script(loaded))


def screenshot(driver, path):
    """Save the window to `path` atomically (a failed run leaves the old picture)."""
    partial = Path(path).with_suffix(".tmp.png")
    if not driver.save_screenshot(str(partial)):
        raise RuntimeError(f"Chromium could not write the screenshot {partial}")
    os.replace(partial, path)


@contextmanager
def real_server():
    """The API on the bundled weights, served by waitress in a thread on a free port; yields its URL."""
    from mrcnn_api.app import DEFAULT_WEIGHTS, create_app
    from mrcnn_api.server import make_server, server_url

    os.environ.pop("MRCNN_API_TOKEN", None)  # The picture shows the page without a token field filled in.
    server = make_server(create_app({"WEIGHTS": str(DEFAULT_WEIGHTS)}), "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server_url(server)
    finally:
        server.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", default=str(PHOTO), help="photo to upload (default: %(default)s)")
    parser.add_argument("--out", default=str(OUT), help="PNG to write (default: %(default)s)")
    args = parser.parse_args(argv)
    if not Path(args.photo).is_file():
        parser.error(f"--photo {args.photo}: no such file (the balloon dataset lives in ../shared/datasets/balloon)")
    missing = missing_browser()
    if missing:
        parser.error(f"needs {', '.join(missing)} (apt-get install chromium chromium-driver; pip install selenium)")
    with tempfile.TemporaryDirectory(prefix="mrcnn-chromium-") as profile, real_server() as url, browser(profile) as d:
        upload(d, url, args.photo, timeout=120)
        screenshot(d, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
