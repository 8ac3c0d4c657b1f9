"""Take the README's screenshots: serves a seeded throw-away database and photographs the main pages
(lead list, lead page, dashboard, feedback, queue, a SAL's checklist), the queue after an accept and
after a conflict, the queue at 1024 px and on a phone, the lead page on a phone and the team page.
Then the marketer's scoring flow at 1280 px: the editor of a new draft, its preview with the
routing impact, and the publish confirmation. The import and merge pictures come from their
browser tests' flows and are refreshed by hand.

Run with `make screenshots`; writes docs/screenshots/*.png.
"""

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
PORT = int(os.environ.get("SCREENSHOT_PORT", "8765"))
BASE = f"http://127.0.0.1:{PORT}"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def manage(env, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def sign_in(page, username):
    page.context.clear_cookies()  # sign the previous user out
    page.goto(f"{BASE}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "leadhub-demo")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def shoot(page, path, name, full_page=False):
    page.goto(f"{BASE}{path}")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=OUT / f"{name}.png", full_page=full_page)
    print(f"  {name}.png  <- {path}")


def open_queue(page, path="/queue/"):
    page.goto(f"{BASE}{path}")
    page.wait_for_load_state("networkidle")
    page.wait_for_function("window.leadhubQueue === true")


def queue_after_accept(page):
    """sdr1 accepts the first lead of their own: the row becomes its confirmation line and the
    header counts move on."""
    open_queue(page, "/queue/?assigned=mine")
    row = page.locator("tr.qrow:not(.done)").filter(has=page.locator("button[data-action=accept]")).first
    row_id = row.get_attribute("id")
    row.locator("button[data-action=accept]").click()
    page.wait_for_selector(f"#{row_id}.done")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=OUT / "queue-after-accept.png")
    print("  queue-after-accept.png  <- /queue/?assigned=mine after Accept")


def queue_conflict(browser):
    """sdr1 and sdr2 both have the pool open; sdr2 claims a lead first, then sdr1 presses Claim
    on the same lead: sdr1's page says who has it, in the row, the panel and the status line."""
    pages = []
    for username in ("sdr1", "sdr2"):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        sign_in(page, username)
        open_queue(page, "/queue/?assigned=pool")
        pages.append(page)
    loser, winner = pages
    row_id = loser.locator("tr.qrow button[data-action=claim]").first.locator("xpath=ancestor::tr").get_attribute("id")
    loser.locator(f"#{row_id} a[data-open]").click()  # the loser is looking at the lead
    loser.wait_for_selector("#panel:not(.panel-empty)")
    winner.locator(f"#{row_id} button[data-action=claim]").click()
    winner.wait_for_selector(f"#{row_id} .row-notice")
    loser.locator(f"#{row_id} button[data-action=claim]").click()
    loser.wait_for_selector(f"#{row_id} .row-notice.is-conflict, #{row_id} .done-line.is-conflict")
    loser.wait_for_load_state("networkidle")
    loser.screenshot(path=OUT / "queue-conflict.png")
    print("  queue-conflict.png  <- sdr1 claims a lead sdr2 claimed a moment before")
    for page in pages:
        page.context.close()


def small_screens(browser):
    """The queue at 1024 px, the queue and a lead page on a 390 px phone."""
    for name, viewport, full_page in (
        ("queue-1024", {"width": 1024, "height": 768}, False),
        ("queue-phone", {"width": 390, "height": 844}, True),
    ):
        context = browser.new_context(viewport=viewport, device_scale_factor=1)
        page = context.new_page()
        sign_in(page, "sdr1")
        open_queue(page)
        page.screenshot(path=OUT / f"{name}.png", full_page=full_page)
        print(f"  {name}.png  <- /queue/ at {viewport['width']} px")
        if name == "queue-phone":
            lead = page.locator("tr.qrow a.lead-name").first.get_attribute("href")
            shoot(page, lead, "lead-phone", full_page=True)
        context.close()


def scoring(browser):
    """A marketer copies the published model, lowers the threshold by 5, adds a negative rule and
    saves; then the preview (headline, reasons, routing impact) and the publish confirmation."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, "marketer")
    page.goto(f"{BASE}/admin/qualification/scoringmodel/")
    page.locator("button", has_text="as new draft").click()
    page.wait_for_load_state("networkidle")
    threshold = page.locator("#id_mql_threshold")
    threshold.fill(str(float(threshold.input_value()) - 5))
    page.locator("#fit_rules-2-group .add-row a").click()
    row = page.locator("#fit_rules-2-group .rule-row:not(.empty-form)").last
    row.locator("select[name$='-field']").select_option("title")
    row.locator("select[name$='-operator']").select_option("contains")
    row.locator("input[name$='-value']").fill("Consultant")
    row.locator("input[name$='-points']").fill("-10")
    page.get_by_role("button", name="Save and continue editing").click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=OUT / "scoring-editor.png", full_page=True)
    print("  scoring-editor.png  <- a new draft in the scoring editor at 1280 px")
    page.get_by_role("link", name="Preview").click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=OUT / "scoring-preview.png", full_page=True)
    print("  scoring-preview.png  <- its preview")
    page.locator("a.pv-publish").click()
    page.wait_for_load_state("networkidle")
    page.get_by_label("Why are you publishing this version?").fill("Lower the threshold by 5; consultants rarely buy")
    page.screenshot(path=OUT / "scoring-publish-confirm.png", full_page=True)
    print("  scoring-publish-confirm.png  <- the publish confirmation")
    context.close()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp}/shots.sqlite3", "CELERY_BROKER_URL": ""}
        manage(env, "migrate", "-v", "0")
        manage(env, "seed_demo", "--leads", "1500", "--no-progress")
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(60):
                try:
                    urllib.request.urlopen(f"{BASE}/login/")
                    break
                except OSError:
                    time.sleep(0.5)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=LAUNCH_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                sign_in(page, "manager")
                shoot(page, "/leads/?ordering=-score", "lead-list")
                page.goto(f"{BASE}/leads/?ordering=-score")
                first = page.locator("table.table tbody a").first.get_attribute("href")
                shoot(page, first, "lead-detail", full_page=True)
                shoot(page, "/dashboard/", "dashboard", full_page=True)
                sign_in(page, "marketer")
                shoot(page, "/feedback/", "feedback", full_page=True)
                sign_in(page, "sdr1")
                page.goto(f"{BASE}/queue/")
                page.wait_for_load_state("networkidle")
                page.locator("tr.qrow a[data-open]").nth(1).click()
                page.wait_for_selector("#panel:not(.panel-empty)")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=OUT / "queue.png")
                print("  queue.png  <- /queue/ with a lead open")
                sign_in(page, "manager")
                page.goto(f"{BASE}/leads/?stage=sal&ordering=-score")
                sal = page.locator("table.table tbody a").first.get_attribute("href")
                shoot(page, sal, "sal-checklist", full_page=True)
                shoot(page, "/team/", "team", full_page=True)
                sign_in(page, "sdr1")
                queue_after_accept(page)
                queue_conflict(browser)
                small_screens(browser)
                scoring(browser)
                for extra in os.environ.get("SCREENSHOT_EXTRA", "").split(","):
                    if extra:
                        user, path, name = extra.split(":")
                        sign_in(page, user)
                        shoot(page, path, name, full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
