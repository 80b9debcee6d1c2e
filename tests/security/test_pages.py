"""Where a page is the point, in headless Chromium: a page on another origin of this machine cannot drive
the dashboard's API (the issue's no-cors probe), and a `javascript:` URL never becomes a link."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from services.streamer import start_in_process
from tests.security.conftest import TESTER
from tests.streamer.browsing import until
from tests.streamer.standin import StandInTester, jpeg_of

ATTACK = """<!doctype html><title>cute cats</title><script>
const S = "{streamer}";
const post = (path, init) => fetch(S + path, {{method: "POST", mode: "no-cors", ...init}}).catch(() => null);
(async () => {{
  await post("/ingest/csrf2/status", {{headers: {{"Content-Type": "text/plain"}},
                                     body: JSON.stringify({{control_url: "{listener}"}})}});
  await post("/api/testers/csrf2/reload", {{}});
  await post("/api/testers/{tester}/pause", {{}});
  await post("/api/testers/{tester}/pause", {{headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}});
  // a JSON call needs a CORS preflight, which the streamer never approves
  await fetch(S + "/api/testers/{tester}/pause", {{method: "POST", headers: {{"Content-Type": "application/json"}},
                                                 body: "{{}}"}}).catch(() => null);
  document.title = "done";
}})();
</script>"""


def serve_page(html: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_a_page_on_another_port_of_this_machine_cannot_drive_the_api(served, listener, browser):
    page = serve_page(ATTACK.format(streamer=served.url, listener=listener.url, tester=TESTER))
    try:
        browser.get(f"http://127.0.0.1:{page.server_address[1]}/")
        until(browser, lambda d: d.title == "done", what="the attacking page ran")
    finally:
        page.shutdown()
        page.server_close()
    assert requests.get(f"{served.url}/api/testers/csrf2", timeout=5).status_code == 404
    assert listener.calls == []
    assert served.tile()["paused"] is False


def test_a_javascript_url_never_becomes_a_link(browser):
    """Even from an in-process tester (whose status skips ingest's check), the page opens http(s) only."""
    server, hub = start_in_process(0, announce=False)
    tester = StandInTester("js")
    pub = hub.local_publisher("js", tester)
    try:
        pub.publish_status({**tester.status(), "view3d_url": "javascript:document.title='pwned'"})
        pub.publish_frame(jpeg_of(0))
        from selenium.webdriver.common.by import By

        browser.get(server.url + "/")
        until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#tile-js dd"), what="the tile")
        button = browser.find_element(By.CSS_SELECTOR, "#tile-js .view3d")
        assert "hidden" in button.get_attribute("class") and button.get_attribute("data-url") == ""
        browser.get(server.url + "/tester/js")
        until(browser, lambda d: d.find_element(By.ID, "reloads").text == "0", what="status shown")
        link = browser.find_element(By.ID, "view3d")
        assert not (link.get_attribute("href") or "").startswith("javascript")
        assert "hidden" in link.get_attribute("class") and browser.title != "pwned"
        # an http link from the same place does show
        pub.publish_status({**tester.status(), "view3d_url": "http://127.0.0.1:58201/"})
        until(browser, lambda d: d.find_element(By.ID, "view3d").get_attribute("href") == "http://127.0.0.1:58201/")
    finally:
        server.stop()
