"""The admin in a real browser (Chromium driven by Selenium), as support staff use it.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them). With
``DURABLE_ADMIN_SCREENSHOTS=docs/_static`` the screenshots of the docs are written again.
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from django_durable import get_workflow, start_workflow
from django_durable.models import Timer
from tests.conftest import run_burst

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)",
    ),
]

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the dev extra)")
By = pytest.importorskip("selenium.webdriver.common.by").By
Select = pytest.importorskip("selenium.webdriver.support.ui").Select
WebDriverWait = pytest.importorskip("selenium.webdriver.support.ui").WebDriverWait

WIDTH = 1400  # a laptop: the list must fit without ids wrapping


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="durable-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--window-size={WIDTH},1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options
    )
    driver.implicitly_wait(5)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def until(browser, condition, what):
    """Wait for the page a click loads: reading at once may still read the page before."""
    WebDriverWait(browser, 15).until(condition, message=f"timed out waiting for {what}")


def log_in(browser, live_server):
    User.objects.create_superuser("support", "support@example.com", "a-good-password")
    browser.get(f"{live_server.url}/admin/login/?next=/admin/django_durable/workflowexecution/")
    browser.find_element(By.NAME, "username").send_keys("support")
    browser.find_element(By.NAME, "password").send_keys("a-good-password")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The click returns before the redirect to the list has loaded: wait for it.
    until(browser, lambda b: "Select workflow execution" in b.title, "the list after logging in")
    assert "Select workflow execution" in browser.title


def open_execution(browser, live_server, execution_id):
    browser.get(f"{live_server.url}/admin/django_durable/workflowexecution/{execution_id}/change/")
    return browser.find_element(By.CSS_SELECTOR, "h1.dd-title")


def badge(browser):
    return browser.find_element(By.CSS_SELECTOR, "h1.dd-title .dd-badge").text


def test_support_staff_filter_inspect_cancel_retry_and_signal(browser, live_server):
    sleeper = start_workflow("onboard_user", workflow_id="onboard-7", user_id=7)
    failed = start_workflow("failing", workflow_id="failing-1")
    waiting = start_workflow("approval", workflow_id="approval-1")
    done = start_workflow("steps", workflow_id="steps-1", n=4)
    run_burst()
    log_in(browser, live_server)

    # The list fits the screen, and filtering by status keeps the failed one only.
    table = browser.find_element(By.ID, "result_list")
    assert table.size["width"] <= WIDTH
    browser.find_element(By.LINK_TEXT, "Failed").click()
    until(browser, lambda b: "status__exact=FAILED" in b.current_url, "the filtered list")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, ".dd-id").text for row in rows] == [failed]
    assert "boom on purpose" in rows[0].text

    # An execution's page draws its timeline: one visible bar per step, and the runs.
    open_execution(browser, live_server, done)
    bars = browser.find_elements(By.CSS_SELECTOR, "#timeline .dd-track .dd-bar-completed")
    assert len(bars) == 4 and all(bar.size["width"] > 0 for bar in bars)
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline .dd-run-lane .dd-bar")
    assert not browser.find_elements(By.CSS_SELECTOR, "input[name=_save]")

    # Cancel the sleeper from its page, with a reason.
    open_execution(browser, live_server, sleeper)
    browser.find_element(By.CSS_SELECTOR, '.object-tools a[href$="/cancel/"]').click()
    browser.find_element(By.NAME, "reason").send_keys("customer left")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][name=_confirm]").click()
    assert badge(browser) == "Canceled"
    assert "customer left" in browser.find_element(By.CLASS_NAME, "dd-facts").text

    # Retry the failed one from the list: select, choose the action, confirm.
    browser.get(f"{live_server.url}/admin/django_durable/workflowexecution/?status__exact=FAILED")
    browser.find_element(By.CSS_SELECTOR, "input.action-select").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("retry_selected")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    until(browser, lambda b: "Retry these executions?" in b.page_source, "the confirmation")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][name=_confirm]").click()
    assert "Retried 1 execution(s)." in browser.find_element(By.CLASS_NAME, "messagelist").text
    assert get_workflow(failed).status == "PENDING"

    # Send the waiting one its signal, run a worker, and watch it complete.
    open_execution(browser, live_server, waiting)
    assert badge(browser) == "Waiting"
    browser.find_element(By.CSS_SELECTOR, '.object-tools a[href$="/signal/"]').click()
    assert browser.find_element(By.NAME, "name").get_attribute("value") == "approve"
    payload = browser.find_element(By.NAME, "payload")
    payload.send_keys('{"approved": tru')
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][name=_confirm]").click()
    assert "The payload is not valid JSON" in browser.find_element(By.CLASS_NAME, "errorlist").text
    payload = browser.find_element(By.NAME, "payload")
    payload.clear()
    payload.send_keys('{"approved": true}')
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][name=_confirm]").click()
    assert "Sent signal 'approve'." in browser.find_element(By.CLASS_NAME, "messagelist").text
    run_burst()
    browser.refresh()
    assert badge(browser) == "Completed"
    assert "approved" in browser.find_element(By.CSS_SELECTOR, ".dd-payloads").text


def test_screenshots_for_the_docs(browser, live_server):
    """Write docs/_static/admin-list.png and admin-execution.png when asked to."""
    folder = os.environ.get("DURABLE_ADMIN_SCREENSHOTS")
    if not folder:
        pytest.skip("set DURABLE_ADMIN_SCREENSHOTS=docs/_static to write the screenshots")
    shown = start_workflow("steps_then_sleep", workflow_id="order-48213-fulfil", before=3, after=2)
    for user_id in (7, 8):
        start_workflow("onboard_user", user_id=user_id)
    start_workflow("approval", workflow_id="refund-2291-approval", timeout=3600)
    start_workflow("approval")
    start_workflow("failing")
    start_workflow("retrying_slowly", fail_times=2)
    for n in range(3):
        start_workflow("add", a=n, b=40)
    start_workflow("steps", n=6)
    run_burst(threads=4)
    time.sleep(1.5)  # the sleep shows on the timeline as a bar of its own
    Timer.objects.filter(execution_id=shown).update(
        due_at=Timer.objects.get(execution_id=shown).created_at
    )
    run_burst(threads=4)
    start_workflow("ledger", entries=2)
    assert get_workflow(shown).status == "COMPLETED"
    log_in(browser, live_server)
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(WIDTH, 900)
    browser.get(f"{live_server.url}/admin/django_durable/workflowexecution/")
    browser.save_screenshot(str(target / "admin-list.png"))
    open_execution(browser, live_server, shown)
    browser.set_window_size(WIDTH, 1250)
    browser.save_screenshot(str(target / "admin-execution.png"))
