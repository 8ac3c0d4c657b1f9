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
