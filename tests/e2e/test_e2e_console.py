"""The web console in a real headless browser (Debian's chromium through Playwright) against
the running stack: sign in with an API key, submit jobs from the form (with an upload), watch
them live, open the result, cancel and retry a long job, and the list, queue, statistics,
provider, health and API pages. Each answer the page shows is checked against the REST API."""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path

import pytest
from helpers.media import image_bytes
from helpers.stacks import upload, wait_for
from openapi_spec_validator import validate
from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
GATEWAY_DIR = Path(__file__).resolve().parents[2] / "gateway"
TASK_URL = re.compile(r".*/console/#/tasks/([0-9a-f-]{36})$")
LIVE_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Browser:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium (deploy/scripts/system-deps.sh)")
    with sync_playwright() as playwright:
        # Chromium's sandbox cannot start as root (CI runs as root); the page is our own.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, stack) -> Page:
    """A fresh browser profile on the gateway; fails the test on any uncaught script error or
    Content-Security-Policy violation."""
    context = browser.new_context(base_url=stack.http_url, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on(
        "console",
        lambda message: "Content Security Policy" in message.text and problems.append(f"CSP: {message.text}"),
    )
    yield opened
    context.close()
    assert not problems, problems


def sign_in(page: Page, api_key: str) -> None:
    page.goto("/console/")
    page.fill("#api-key", api_key)
    page.click("form button[type=submit]")
    expect(page.locator("#task-rows")).to_be_visible()


def status_badge(page: Page):
    return page.locator("#task-facts [data-status]")


def test_gateway_serves_the_openapi_document_and_the_console(anonymous):
    document = anonymous.get("/api/v1/openapi.json")
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/json"
    assert document.content == (GATEWAY_DIR / "openapi.json").read_bytes()
    validate(document.json())
    redirect = anonymous.get("/console")
    assert redirect.status_code == 301 and redirect.headers["location"].endswith("/console/")
    index = anonymous.get("/console/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in index.headers["content-security-policy"]
    script = anonymous.get("/console/console.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.content == (GATEWAY_DIR / "console" / "console.js").read_bytes()
    # Anything else under /console/ is not a file: the usual JSON 404.
    missing = anonymous.get("/console/secrets.txt")
    assert missing.status_code == 404 and missing.json()["code"] == 5


def test_sign_in_refuses_a_bad_key_then_signs_in_and_out(page, stack):
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"#/signin$"))
    expect(page.locator("#nav")).to_be_hidden()
    page.fill("#api-key", "mt_not_a_real_key")
    page.click("form button[type=submit]")
    expect(page.locator("#sign-in-error")).to_have_text("That API key was not accepted.")
    expect(page.locator("#nav")).to_be_hidden()

    page.fill("#api-key", stack.api_key)
    page.click("form button[type=submit]")
    expect(page.locator("#task-rows")).to_be_visible()
    expect(page.locator("#nav")).to_be_visible()
    # A reload keeps the session (sessionStorage); signing out forgets the key.
    page.reload()
    expect(page.locator("#task-rows")).to_be_visible()
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"#/signin$"))
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0
    page.goto("/console/#/tasks")
    expect(page).to_have_url(re.compile(r"#/signin$"))


def test_submit_a_subtitle_job_from_the_form_watch_it_complete_and_open_the_result(page, rest, stack):
    sign_in(page, stack.api_key)
    page.click("[data-nav=submit]")
    page.select_option("#job-type", "subtitle_generation")
    words = f"Console run {uuid.uuid4().hex[:8]} says hello. The browser watches it finish."
    page.fill("#field-text", words)
    page.fill("#field-format", "vtt")
    page.evaluate("window.sameDocument = true")  # survives only if nothing reloads the page
    page.click("#submit-job")
    expect(page).to_have_url(TASK_URL)
    task_id = TASK_URL.match(page.url).group(1)

    expect(status_badge(page)).to_have_text("COMPLETED", timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.sameDocument") is True
    # The state arrived over the SSE stream, in order.
    expect(page.locator("#task-events li").last).to_have_attribute("data-event", "task.completed")
    events = page.locator("#task-events li").evaluate_all("items => items.map(i => i.dataset.event)")
    assert events[0] == "task.created" and events[-1] == "task.completed" and "task.started" in events
    expect(page.locator("#task-progress")).to_contain_text("100%")

    task = rest.get(f"/api/v1/media/tasks/{task_id}").json()
    assert task["status"] == "COMPLETED"
    assert task["input"]["text"] == words and task["input"]["format"] == "vtt"
    # The result: the subtitle file's text previewed, the typed result, and the download.
    (artifact,) = task["output"]["artifacts"]
    expected = rest.get(artifact["url"]).content
    preview = page.locator(f"[data-artifact-id='{artifact['artifact_id']}'] pre.subtitle-text")
    expect(preview).to_contain_text("WEBVTT")
    assert preview.text_content() == expected.decode()
    page.click("#task-output summary")
    result = json.loads(page.locator("#task-result").text_content())
    assert result["format"] == "vtt" and result["cue_count"] == task["output"]["result"]["cue_count"]
    with page.expect_download() as download:
        page.click("#task-output button:has-text('download')")
    assert Path(download.value.path()).read_bytes() == expected
    # The logs card shows the task's log entries, as the REST API lists them.
    entries = rest.get(f"/api/v1/media/tasks/{task_id}/logs").json()["entries"]
    if entries:
        expect(page.locator("#task-logs")).to_contain_text(entries[-1]["message"])
        assert len(page.locator("#task-logs").text_content().splitlines()) == len(entries)
    else:
        expect(page.locator("#task-logs")).to_have_text("No log lines yet.")


def test_upload_a_file_from_the_form_and_preview_the_output_image(page, rest, stack):
    sign_in(page, stack.api_key)
    page.goto("/console/#/submit/image_transform")
    picture = image_bytes((320, 200), "orange")
    page.set_input_files(
        "#field-image_url-file", files=[{"name": "orange.png", "mimeType": "image/png", "buffer": picture}]
    )
    expect(page.locator("#field-image_url-upload-status")).to_contain_text("uploaded orange.png")
    artifact_id = page.input_value("#field-image_url")
    stored = rest.get(f"/api/v1/media/artifacts/{artifact_id}")
    assert stored.status_code == 200 and stored.content == picture
    page.fill("#field-operations", json.dumps([{"op": "resize", "width": 64, "height": 40}]))
    page.fill("#field-output_format", "png")
    page.click("#submit-job")
    expect(page).to_have_url(TASK_URL)
    expect(status_badge(page)).to_have_text("COMPLETED", timeout=LIVE_TIMEOUT_MS)
    image = page.locator("#task-output .preview img")
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [64, 40]

    # Delete (after the browser's confirm) removes the finished task and its files.
    task_id = TASK_URL.match(page.url).group(1)
    output_url = rest.get(f"/api/v1/media/tasks/{task_id}").json()["output"]["artifacts"][0]["url"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-task")
    expect(page).to_have_url(re.compile(r"#/tasks$"))
    expect(page.locator("#banner")).to_contain_text(f"Task {task_id} deleted")
    assert rest.get(f"/api/v1/media/tasks/{task_id}").status_code == 404
    assert rest.get(output_url).status_code == 404


def test_cancel_a_long_job_from_its_page_and_retry_it(page, rest, stack):
    slide = upload(rest, image_bytes((1280, 720), "navy"), "image/png", "slide.png")
    body = {"images": [{"image_url": slide, "duration": 120}], "width": 1280, "height": 720, "fps": 30}
    task = rest.post("/api/v1/media/videos/img2vid", json=body).json()
    sign_in(page, stack.api_key)
    page.goto(f"/console/#/tasks/{task['task_id']}")
    # Live: the page shows the job start running without being reloaded.
    expect(status_badge(page)).to_have_text("PROCESSING", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#task-events li[data-event='task.started']")).to_have_count(1)

    page.click("#cancel-task")
    expect(status_badge(page)).to_have_text("CANCELLED", timeout=LIVE_TIMEOUT_MS)
    assert wait_for(rest, task["task_id"], timeout=30)["status"] == "CANCELLED"
    expect(page.locator("#cancel-task")).to_have_count(0)

    expect(page.locator("#task-events li").last).to_have_attribute("data-event", "task.cancelled")
    seen = page.locator("#task-events li").count()

    page.click("#retry-task")
    expect(status_badge(page)).to_have_text(re.compile("QUEUED|PROCESSING"))
    # The stream goes on after the events already shown (Last-Event-ID): no replayed history.
    expect(page.locator("#task-events li")).not_to_have_count(seen)
    later = page.locator("#task-events li").evaluate_all("items => items.map(i => i.dataset.event)")[seen:]
    assert later and "task.created" not in later and "task.cancelled" not in later[:1], later
    again = rest.get(f"/api/v1/media/tasks/{task['task_id']}").json()
    assert again["status"] in ("QUEUED", "PROCESSING")
    page.click("#cancel-task")
    expect(status_badge(page)).to_have_text("CANCELLED", timeout=LIVE_TIMEOUT_MS)
    assert wait_for(rest, task["task_id"], timeout=30)["status"] == "CANCELLED"


def test_task_list_filters_sorts_pages_and_updates_live(page, rest, stack):
    for index in range(3):
        created = rest.post("/api/v1/media/subtitles/generate", json={"text": f"List item {index} {uuid.uuid4().hex}."})
        wait_for(rest, created.json()["task_id"])
    query = {"task_type": "subtitle_generation", "status": "COMPLETED", "limit": 2}
    first_page = rest.get("/api/v1/media/tasks", params=query).json()
    sign_in(page, stack.api_key)
    page.select_option("#filter-task_type", "subtitle_generation")
    expect(page).to_have_url(re.compile(r"task_type=subtitle_generation"))
    page.select_option("#filter-status", "COMPLETED")
    expect(page).to_have_url(re.compile(r"task_type=subtitle_generation.*status=COMPLETED"))
    page.goto("/console/#/tasks?task_type=subtitle_generation&status=COMPLETED&limit=2")
    rows = page.locator("#task-rows tr[data-task-id]")
    expect(rows).to_have_count(2)
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.taskId)") == [t["task_id"] for t in first_page["items"]]
    expect(page.locator("#page-info")).to_have_text(re.compile(rf"^1–2 of {first_page['total']}$"))
    expect(page.locator("#task-rows [data-status]")).to_have_text(["COMPLETED", "COMPLETED"])

    page.click("button:has-text('Next')")
    expect(page).to_have_url(re.compile(r"offset=2"))
    second_page = rest.get("/api/v1/media/tasks", params={**query, "offset": 2}).json()
    expect(rows.first).to_have_attribute("data-task-id", second_page["items"][0]["task_id"])

    page.select_option("#filter-sort", "created_at")
    oldest = rest.get("/api/v1/media/tasks", params={**query, "sort": "created_at"}).json()
    expect(rows.first).to_have_attribute("data-task-id", oldest["items"][0]["task_id"])

    # Live: a task submitted elsewhere shows up in the open list without a reload.
    page.goto("/console/#/tasks?task_type=subtitle_generation&limit=10")
    expect(rows.first).to_be_visible()
    fresh = rest.post("/api/v1/media/subtitles/generate", json={"text": f"Appears live {uuid.uuid4().hex}."}).json()
    expect(page.locator(f"#task-rows tr[data-task-id='{fresh['task_id']}']")).to_be_visible(timeout=15_000)


def test_queue_statistics_provider_health_and_api_pages(page, rest, stack):
    done = rest.post("/api/v1/media/subtitles/generate", json={"text": f"Counted {uuid.uuid4().hex}."}).json()
    wait_for(rest, done["task_id"])  # so the statistics have something to chart
    sign_in(page, stack.api_key)
    before = int(rest.get("/api/v1/media/statistics").json()["total_tasks"])
    page.click("[data-nav=statistics]")
    total = int(page.locator("#stat-total").text_content())
    assert before <= total <= int(rest.get("/api/v1/media/statistics").json()["total_tasks"])
    expect(page.locator("figure", has_text="Tasks by status").locator("rect.chart-bar")).not_to_have_count(0)

    page.click("[data-nav=providers]")
    providers = rest.get("/api/v1/media/providers").json()["providers"]
    rows = page.locator("#providers tbody tr")
    expect(rows).to_have_count(len(providers))
    assert {row.split("\t")[0] for row in rows.evaluate_all("rs => rs.map(r => r.innerText)")} == {
        p["name"] for p in providers
    }

    page.click("[data-nav=health]")
    expect(page.locator("#health-status")).to_have_text(rest.get("/api/v1/media/health").json()["status"])

    page.click("[data-nav=queues]")
    expect(page.locator("figcaption", has_text="Queued tasks by priority")).to_be_visible()
    expect(page.locator("h2", has_text="Dead letters")).to_be_visible()

    page.click("[data-nav=api]")
    document = rest.get("/api/v1/openapi.json").json()
    operation_ids = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    operations = page.locator("details.operation")
    expect(operations).to_have_count(len(operation_ids))
    assert set(operations.evaluate_all("ds => ds.map(d => d.dataset.operationId)")) == operation_ids
    subtitles = page.locator("details[data-operation-id='SubtitleService_GenerateSubtitles']")
    subtitles.locator(":scope > summary").click()
    body_fields = subtitles.locator(":scope > div > table.schema > tbody > tr > td:first-child")
    expect(body_fields.first).to_be_visible()
    request = document["components"]["schemas"]["GenerateSubtitlesRequest"]["properties"]
    assert body_fields.all_text_contents() == list(request)
