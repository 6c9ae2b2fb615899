"""The page at / in a real headless Chromium (Debian's chromium + chromium-driver, via selenium):
upload a file, ask two questions, see the memory after every chunk and the answers appear."""

from __future__ import annotations

import shutil

import pytest
from serve_helpers import SMALL

from fault_server import keyed_doc, question
from memagent.loop.agent import MemAgent
from scripted import ScriptedLLM

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    yield driver
    driver.quit()


def test_upload_ask_and_watch_the_memory_in_chromium(serve, tokenizer, tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    run = serve(api_key="page-key")
    text = keyed_doc(tokenizer)
    (tmp_path / "report.txt").write_text(text)
    questions = [question("alpha"), question("charlie")]
    agent = MemAgent(ScriptedLLM(tokenizer), SMALL)
    expected = [agent.ask(text, q) for q in questions]

    browser.get(run.url + "/")
    browser.find_element(By.ID, "file").send_keys(str(tmp_path / "report.txt"))
    browser.find_element(By.ID, "questions").send_keys("\n".join(questions))
    browser.find_element(By.ID, "key").send_keys("page-key")
    browser.find_element(By.ID, "ask").click()
    WebDriverWait(browser, 60).until(
        lambda d: d.find_element(By.ID, "answer-1").text or "error" in d.find_element(
            By.ID, "status").get_attribute("class"))
    status = browser.find_element(By.ID, "status").text
    assert status.startswith("done in"), status
    for i, want in enumerate(expected):
        assert browser.find_element(By.ID, f"answer-{i}").text == want.answer
        history = browser.find_elements(By.CSS_SELECTOR, f"#history-{i} li")
        assert [li.get_attribute("data-chunk") for li in history] == [
            str(k) for k in range(want.chunks)]  # the memory after every chunk, in order
        memory = browser.execute_script(f"return document.getElementById('memory-{i}').textContent")
        assert memory == want.memory
        cost = browser.find_element(By.ID, f"cost-{i}").text
        assert f"{want.usage.prompt_tokens} prompt + {want.usage.completion_tokens} completion" in cost


def test_the_page_says_what_went_wrong(serve, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    run = serve(api_key="right")
    browser.get(run.url + "/")
    browser.find_element(By.ID, "doc").send_keys("some text")
    browser.find_element(By.ID, "questions").send_keys("q?")
    browser.find_element(By.ID, "key").send_keys("wrong")
    browser.find_element(By.ID, "ask").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "status").text)
    status = browser.find_element(By.ID, "status")
    assert "wrong API key" in status.text and status.get_attribute("class") == "error"
