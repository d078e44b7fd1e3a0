"""The worklist as it looks on a reading-room screen (1400×900) and a wide one (1920×1080):
the total and the pager above the list, a header that stays while scrolling, nothing off to
the right, a Pending badge on one line, modality checkboxes beside their codes, ISO dates in
the range fields, about 20 compact rows on 900 px, and the site's icon. Screenshots of each
are saved (tests/.screenshots/) to be looked at."""

import io

import pytest
from django.core.management import call_command

from archive.models import Study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = [(1400, 900), (1920, 1080)]


@pytest.fixture
def sixty_two(db):
    call_command("generate_studies", 62, stdout=io.StringIO())
    # A few of each state, as a busy morning looks.
    pks = list(Study.objects.order_by("pk").values_list("pk", flat=True))
    ready, pending, failed = pks[:40], pks[40:60], pks[60:]
    Study.objects.filter(pk__in=ready).update(generation=1, cache_generation=1, cache_error="")
    Study.objects.filter(pk__in=pending).update(generation=2, cache_generation=1, cache_error="")
    Study.objects.filter(pk__in=failed).update(
        generation=2, cache_generation=None, cache_error="no pixel data"
    )


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found, locator
    return found


@pytest.mark.parametrize("width, height", SCREENS, ids=lambda v: str(v))
def test_the_list_at_reading_room_sizes(
    browser, session_cookie, live_server, sixty_two, screenshot, width, height
):
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_cookies([session_cookie])
    page = context.new_page()
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(live_server.url + "/?sort=state")
    page.locator("tr.study").first.wait_for()
    screenshot(page, f"{width}x{height}")

    # The total and the pager, above the list and in view.
    top = page.locator("nav.pager.top")
    assert top.locator(".count").inner_text() == "Studies 1–50 of 62"
    assert box(top)["y"] + box(top)["height"] < height
    assert top.locator("a", has_text="Next").is_visible()
    # Nothing off to the right: every column, the actions included.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    actions = box(page.locator("tr.study").first.locator("a.open"))
    assert actions["x"] + actions["width"] <= width
    # The Pending badge keeps its spinner on its line.
    badge = page.locator(".badge.state-pending").first
    assert box(badge)["height"] < 24
    # The header stays under the top bar while the list scrolls.
    page.mouse.wheel(0, 1500)
    page.wait_for_function("window.scrollY > 1000")
    header = box(page.locator("table.studies thead th.col-name"))
    assert abs(header["y"] - 52) <= 1
    screenshot(page, f"{width}x{height}-scrolled")

    # Modality checkboxes sit beside their codes, on the same line.
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("details.multiselect summary").click()
    option = page.locator(".multiselect .options label").filter(has=page.locator("input[value=CT]"))
    checkbox = box(option.locator("input"))
    label = box(option)
    assert checkbox["height"] < 20
    assert abs((checkbox["y"] + checkbox["height"] / 2) - (label["y"] + label["height"] / 2)) < 3
    assert checkbox["x"] >= label["x"] - 1
    screenshot(page, f"{width}x{height}-modalities")
    page.locator("details.multiselect summary").click()

    # The date range is typed and shown as the list shows dates.
    page.select_option("#date-preset", "custom")
    start = page.locator('input[name="from"]')
    assert start.get_attribute("placeholder") == "YYYY-MM-DD"
    start.fill("2024-03-01")
    assert start.input_value() == "2024-03-01"

    # The icon of the site (no 404 for /favicon.ico or the linked icon).
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert page.request.get(live_server.url + icon).status == 200
    assert page.request.get(live_server.url + "/favicon.ico").status == 200
    assert not [url for url in missing if "favicon" in url]

    # Compact rows: about twice the studies on the same screen.
    page.goto(live_server.url + "/?rows=compact")
    page.locator("tr.study").first.wait_for()
    rows = page.locator("tr.study").evaluate_all(
        f"rows => rows.filter(r => r.getBoundingClientRect().bottom <= {height}).length"
    )
    assert rows >= (18 if height == 900 else 24), rows
    screenshot(page, f"{width}x{height}-compact")
    context.close()
