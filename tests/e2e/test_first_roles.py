"""From an empty database, as on a fresh ``./run.sh``: the administrator creates a local user in
the admin; signed in, that user gets the page saying the reader role is missing; the
administrator ticks "reader" on the user's page; the user's next visit shows the worklist."""

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def sign_in(browser, url, username, password):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(url + "/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def test_admin_gives_a_new_local_user_the_reader_role(page, browser, live_server, screenshot):
    page.goto(live_server.url + "/admin/auth/user/add/")
    page.fill("#id_username", "newton")
    page.fill("#id_password1", "a-long-passphrase-42")
    page.fill("#id_password2", "a-long-passphrase-42")
    page.locator("input[name=_save]").click()
    page.wait_for_url("**/change/**")

    newton = sign_in(browser, live_server.url, "newton", "a-long-passphrase-42")
    assert "has no role yet" in newton.locator("#missing-role").inner_text()
    screenshot(newton, "no-role")

    role = page.get_by_label("reader — search the worklist")
    role.scroll_into_view_if_needed()
    screenshot(page, "user-page")
    role.check()
    page.locator("input[name=_save]").click()
    page.wait_for_url("**/admin/auth/user/")

    newton.goto(live_server.url + "/")
    newton.locator("#results").wait_for()
    assert newton.title().startswith("Study list · ")
    screenshot(newton, "worklist")
