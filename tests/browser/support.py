"""Helpers the browser tests share."""


def wait_for_queue_script(page, timeout_ms=10_000):
    """Wait until the deferred queue.js has run (window.leadhubQueue). Polled with evaluate():
    page.wait_for_function() builds its predicate with eval inside the page, which the pages'
    Content-Security-Policy (no 'unsafe-eval') refuses now and then."""
    page.wait_for_load_state("load")
    for _ in range(timeout_ms // 50):
        if page.evaluate("window.leadhubQueue === true"):
            return
        page.wait_for_timeout(50)
    raise AssertionError("queue.js did not run on " + page.url)


def sign_in_and_open(page, live_server, user, path):
    """Sign in through the login form (the factories' password) and open `path`."""
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}{path}")
