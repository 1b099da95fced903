"""The "New referral" page in a real browser: fill it in, add children and household members, fix errors.

The hub app is served over HTTP on loopback with a real database; axe (WCAG
2.2 AA) runs on the empty form, the form with errors and the page landed on.
All names and numbers are synthetic.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from mashlink.config.settings import load_settings
from mashlink.hub.service import HubService
from mashlink.ops.web.hub_app import build_hub_app
from tests.browser.support import PageLog, axe_check, new_page
from tests.hub.api_support import serve
from tests.hub.hub_support import synthetic_nhs_number

pytestmark = pytest.mark.browser

FORM = "/workspace/referrals/new"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubService]:
    service = HubService.open(load_settings(state_dir=str(tmp_path_factory.mktemp("new-referral"))))
    yield service
    service.close()


@pytest.fixture(scope="module")
def site(hub: HubService) -> Iterator[str]:
    with serve(build_hub_app(hub)) as client:
        yield str(client.base_url).rstrip("/")


def sign_in(page: Page, site: str, role: str = "practitioner", user: str = "amy", next_path: str = FORM) -> None:
    page.goto(f"{site}/sign-in/dev?role={role}&user={user}&next={next_path}", wait_until="networkidle")


def submit(page: Page, name: str = "Submit referral") -> None:
    page.get_by_role("button", name=name, exact=True).click()
    page.wait_for_load_state("networkidle")


def fill_date(page: Page, group: str, value: date) -> None:
    page.locator(f"#{group}-day").fill(str(value.day))
    page.locator(f"#{group}-month").fill(str(value.month))
    page.locator(f"#{group}-year").fill(str(value.year))


def fill_referral_details(page: Page) -> None:
    page.locator("#source").select_option("2A")
    page.get_by_label("Referred by").fill("Synthfield Primary School, safeguarding lead (synthetic)")
    page.get_by_label("Amber").check()
    page.get_by_label("Why did you give this rating?").fill("Repeated concerns, no immediate risk (synthetic)")
    page.get_by_label("Neglect").check()
    page.get_by_label("Domestic abuse", exact=True).check()
    page.get_by_label("What the referrer said").fill("Synthetic narrative: arrives hungry, talks of shouting.")


def focused_id(page: Page) -> str:
    return str(page.evaluate("() => document.activeElement ? document.activeElement.id : ''"))


def test_a_child_and_an_unborn_sibling_with_the_mother_in_the_household(page: Page, site: str,
                                                                         hub: HubService) -> None:
    log = PageLog(page)
    sign_in(page, site)
    expect(page.get_by_role("heading", level=1)).to_have_text("New referral")
    expect(page.get_by_role("link", name="New referral")).to_have_attribute("aria-current", "page")
    axe_check(page)
    # The defaults: the only LA in scope chosen, the lawful basis every agency needs ticked, screening.
    expect(page.locator("#la")).to_have_value("999")
    for code in ("children_act_1989_s47", "uk_gdpr_art6_1_e", "dpa2018_sch8_para4"):
        expect(page.locator(f"input[name='lawful-basis'][value='{code}']")).to_be_checked()
    expect(page.get_by_label("MASH screening")).to_be_checked()

    fill_referral_details(page)
    page.locator("#child-1-given").fill("Ada May")
    page.locator("#child-1-family").fill("Testchild")
    fill_date(page, "child-1-dob", date(2016, 3, 14))
    page.locator("#child-1-sex").select_option("female")
    page.locator("#child-1-nhs").fill(synthetic_nhs_number(424242))
    page.locator("#adult-1-given").fill("Beth")
    page.locator("#adult-1-family").fill("Testparent")
    fill_date(page, "adult-1-dob", date(1990, 7, 1))
    page.locator("#adult-1-relationship").select_option("mother")

    submit(page, "Add another child")
    assert page.url.endswith(f"{FORM}#child-2")
    expect(page.locator("#child-1-given")).to_have_value("Ada May")  # everything typed is kept
    expect(page.locator("#child-2-given")).to_have_value("")
    expect(page.locator(".govuk-error-summary")).to_have_count(0)
    page.locator("#child-2-status-unborn").check()
    expected = date.today() + timedelta(days=60)
    fill_date(page, "child-2-edd", expected)
    page.locator("#child-2-family").fill("Testchild")
    page.locator("#child-2-mother").select_option(label="Household member 1: Beth Testparent")

    page.get_by_label("Not sought").check()
    page.get_by_label("Why does sharing go ahead without consent?").fill(
        "Seeking consent could place the child at risk (synthetic)")
    page.get_by_label("Decided by").fill("Amy, MASH social worker")
    page.get_by_label("Authorised by").fill("Mira, MASH team manager")
    submit(page)

    assert "/workspace/referrals/MASH-" in page.url and page.url.endswith("?updated=created"), page.url
    referral_id = page.url.rsplit("/", 1)[1].split("?")[0]
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("referral is created")
    expect(page.get_by_role("heading", level=1)).to_contain_text(referral_id)
    people = page.locator("#people ~ .govuk-grid-row").first
    expect(people).to_contain_text("Ada May Testchild")
    expect(people).to_contain_text("Beth Testparent")
    enquiries = page.locator("#enquiries + table tbody tr")
    expect(enquiries).to_have_count(len(hub.settings.enabled_agencies()))
    expect(page.locator("#enquiries + table")).to_contain_text("Synthshire Constabulary")
    axe_check(page)
    assert not log.off_host() and not log.errors and not log.csp_violations(), (log.errors, log.csp_violations())

    stored = hub.referral(referral_id)
    child, unborn = stored.subjects
    assert child.names[0].given == ["Ada", "May"] and child.birth_date is not None
    assert child.identifiers[0].check == "passed"
    assert unborn.unborn and unborn.expected_birth_date == expected and unborn.mother_person_id == "h1"
    assert [(r.from_person_id, r.to_person_id, r.type.value) for r in stored.relationships] == [
        ("h1", "c1", "mother"), ("h1", "c2", "mother")]
    assert stored.consent.status.value == "not_sought" and stored.consent.authorised_by == "Mira, MASH team manager"
    assert stored.rag.value == "amber" and stored.rag_history[0].by == "Amy (amy)"


def test_errors_are_listed_linked_to_their_fields_and_what_was_typed_is_kept(page: Page, site: str) -> None:
    sign_in(page, site)
    fill_referral_details(page)
    fill_date(page, "child-1-dob", date(2016, 1, 1))
    page.locator("#child-1-dob-day").fill("31")
    page.locator("#child-1-dob-month").fill("2")  # 31 February
    page.locator("#child-1-nhs").fill("999 000 0000")
    page.get_by_label("Not sought").check()
    page.get_by_label("Decided by").fill("Amy, MASH social worker")
    page.get_by_label("Authorised by").fill("Mira, MASH team manager")
    submit(page)

    assert page.title().startswith("Error: ")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Enter the child's given name or family name")
    expect(summary).to_contain_text("Date of birth must be a real date")
    expect(summary).to_contain_text("Enter why consent was not sought")
    # Each message is also next to its field, in an errored form group.
    for group in ("child-1-given", "child-1-dob", "consent-reason"):
        expect(page.locator(f"#{group}-error")).to_be_visible()
        expect(page.locator(f".govuk-form-group--error:has(#{group}-error)")).to_have_count(1)
    # Kept: everything typed.
    expect(page.get_by_label("Referred by")).to_have_value("Synthfield Primary School, safeguarding lead (synthetic)")
    expect(page.locator("#child-1-dob-day")).to_have_value("31")
    expect(page.locator("#child-1-dob-year")).to_have_value("2016")
    expect(page.get_by_label("Decided by")).to_have_value("Amy, MASH social worker")
    expect(page.get_by_label("Not sought")).to_be_checked()
    expect(page.get_by_label("Neglect")).to_be_checked()
    axe_check(page)

    links = summary.locator("a")
    targets = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert {"#child-1-given", "#child-1-dob-day", "#consent-reason"} <= set(targets), targets
    for i, href in enumerate(targets):
        links.nth(i).click()
        assert focused_id(page) == str(href).lstrip("#"), (href, focused_id(page))

    # Fixed, with a NHS number failing its check digit: warned once, accepted when submitted again.
    page.locator("#child-1-given").fill("Cara")
    page.locator("#child-1-dob-day").fill("28")
    page.get_by_label("Why does sharing go ahead without consent?").fill("Could place the child at risk")
    page.locator("#child-1-nhs").fill("9990000001")
    submit(page)
    expect(page.locator(".govuk-error-summary")).to_contain_text("does not pass its check digit")
    expect(page.locator("#child-1-nhs-error")).to_be_visible()
    submit(page)
    assert "?updated=created" in page.url, page.url


def test_keyboard_only_the_form_is_filled_and_enter_submits(page: Page, site: str, hub: HubService) -> None:
    sign_in(page, site)
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    keys = page.keyboard

    def tab_to(element_id: str) -> None:
        for _ in range(300):
            keys.press("Tab")
            if focused_id(page) == element_id:
                return
        raise AssertionError(f"Tab never reached #{element_id}")

    tab_to("source")
    keys.type("2A")  # type-ahead in the select
    tab_to("referrer")
    keys.type("Keyboard Academy (synthetic)")
    tab_to("rag")
    keys.press("Space")  # red
    tab_to("rag-reason")
    keys.type("Injury seen today (synthetic)")
    tab_to("concerns")
    keys.press("Space")  # neglect
    tab_to("child-1-given")
    keys.type("Dev")
    tab_to("child-1-family")
    keys.type("Keyboardchild")
    tab_to("child-1-dob-day")
    keys.type("5")
    keys.press("Tab")
    keys.type("11")
    keys.press("Tab")
    keys.type("2019")
    tab_to("consent")
    keys.press("Space")  # given
    tab_to("consent-decided-by")
    with page.expect_navigation():
        keys.press("Enter")  # submits the referral, not "Add another child"
    page.wait_for_load_state("networkidle")
    assert "?updated=created" in page.url, (page.url, page.locator(".govuk-error-summary").all_inner_texts())
    referral_id = page.url.rsplit("/", 1)[1].split("?")[0]
    stored = hub.referral(referral_id)
    assert stored.rag.value == "red" and stored.source.value == "2A" and len(stored.subjects) == 1
    assert stored.household == [] and stored.consent.status.value == "given"


def test_without_javascript_add_another_and_blank_blocks_are_ignored(browser: object, site: str,
                                                                    hub: HubService) -> None:
    page = new_page(browser, java_script_enabled=False)  # type: ignore[arg-type]
    try:
        sign_in(page, site)
        # Every conditional part is shown without script.
        expect(page.locator("#child-1-edd-day")).to_be_visible()
        submit(page, "Add another household member")
        submit(page, "Add another child")
        expect(page.locator("fieldset[id^='adult-']")).to_have_count(2)
        expect(page.locator("fieldset[id^='child-']")).to_have_count(2)
        fill_referral_details(page)
        page.locator("#child-2-family").fill("Secondblock")
        fill_date(page, "child-2-dob", date(2020, 2, 29))
        page.locator("input[name='consent'][value='given']").check()
        submit(page)
        assert "?updated=created" in page.url, page.locator(".govuk-error-summary").all_inner_texts()
        stored = hub.referral(page.url.rsplit("/", 1)[1].split("?")[0])
        assert [p.person_id for p in stored.subjects] == ["c2"] and stored.household == []
    finally:
        page.context.close()


def test_an_ops_user_gets_the_403_page(page: Page, site: str) -> None:
    sign_in(page, site, role="ops", user="oscar", next_path="/workspace/ops/deadlines")
    response = page.goto(f"{site}{FORM}", wait_until="networkidle")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")
    expect(page.locator("main")).to_contain_text("referral.create")
    expect(page.get_by_role("link", name="New referral")).to_have_count(0)
    axe_check(page)
