"""Headless Debian Chromium through Selenium, and two waits the browser tests share."""

import shutil
import time

import pytest

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", "/usr/bin/chromedriver"


# WebGL without a GPU (MuJoCo's web viewer draws with it): ANGLE on SwiftShader, Chromium's CPU renderer.
WEBGL = ("--use-angle=swiftshader", "--enable-unsafe-swiftshader")


def chromium(*extra, size="1280,1000"):
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Debian chromium + chromium-driver (scripts/install-system-deps.sh)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={size}", *extra):
        opts.add_argument(arg)
    opts.page_load_strategy = "eager"  # an MJPEG <img> never finishes loading
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    return driver


def until(driver, predicate, timeout=30, what="condition"):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: predicate(d), message=what)


def click(driver, selector, what="click"):
    """Click the element `selector` names, again if the page re-rendered it in between (stale element)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def clicked(d):
        try:
            d.find_element(By.CSS_SELECTOR, selector).click()
            return True
        except StaleElementReferenceException:
            return False

    until(driver, clicked, what=what)


def live_pixels(driver, selector, what):
    """Screenshots of the element until two differ (the stream is live), bounded by until's timeout."""
    from selenium.webdriver.common.by import By

    first = driver.find_element(By.CSS_SELECTOR, selector).screenshot_as_png

    def changed(d):
        time.sleep(0.3)
        return d.find_element(By.CSS_SELECTOR, selector).screenshot_as_png != first

    until(driver, changed, what=what)
