"""The book: clean notebook sources, the smoke switch, an offline HTML build, and a real browser."""

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("*.ipynb"))


def test_there_are_chapters():
    assert len(CHAPTERS) >= 3


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_notebook_is_clean_and_complete(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert path.stat().st_size < 200_000, "committed notebooks stay small"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), "strip outputs before committing"
    first_md = "".join(nb["cells"][0]["source"])
    assert f"colab.research.google.com/github/adrpo-nb/adrpo-nb/blob/main/book/chapters/{path.name}" in first_md
    first_code = "".join(code[0]["source"])
    assert "google.colab" in first_code and 'os.environ.get("ADRPO_SMOKE") == "1"' in first_code
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for heading in ("## Summary", "## Exercises"):
        assert heading in text
    assert re.search(r"Runs on", text) and re.search(r"(Full build|Full path|Run time)", text)


def test_repository_is_named_in_one_place():
    """book/_config.yml names the repository; every copy a reader without it needs (Colab badges, install cells,
    notebook.REPOSITORY) agrees, so scripts/set_repository.py is all a fork runs."""
    from adrpo_nb.notebook import REPOSITORY

    repo = re.search(r"url: https://github.com/([\w.-]+/[\w.-]+)", (ROOT / "book" / "_config.yml").read_text())
    assert repo and repo.group(1) == REPOSITORY
    for path in CHAPTERS:
        text = path.read_text()
        assert f"colab.research.google.com/github/{REPOSITORY}/blob/main/book/chapters/{path.name}" in text, path.name
        assert f'REPO = \\"https://github.com/{REPOSITORY}\\"' in text, path.name


def test_every_chapter_is_in_the_toc():
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for path in CHAPTERS:
        assert f"chapters/{path.stem}" in toc


def _nbmake(env_smoke):
    env = {k: v for k, v in os.environ.items() if k != "ADRPO_SMOKE"}
    if env_smoke is not None:
        env["ADRPO_SMOKE"] = env_smoke
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbmake", "--nbmake-kernel=python3",
           str(ROOT / "tests" / "data" / "smoke_guard.ipynb")]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)


@pytest.mark.slow
def test_smoke_switch_reaches_the_notebook_kernel():
    ok = _nbmake("1")
    assert ok.returncode == 0, ok.stdout[-2000:]
    missing = _nbmake(None)
    assert missing.returncode != 0 and "ADRPO_SMOKE did not reach the kernel" in missing.stdout


# ----------------------------------------------------------------------------- the built HTML
class _Resources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.styles = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        if tag == "link" and "stylesheet" in (a.get("rel") or "") and a.get("href"):
            self.styles.append(a["href"])
        if tag == "link" and (a.get("rel") or "") in ("preload", "modulepreload") and a.get("href"):
            self.styles.append(a["href"])


def _pages(html_dir: Path) -> list[Path]:
    return [html_dir / "index.html", *[html_dir / "chapters" / f"{p.stem}.html" for p in CHAPTERS]]


@pytest.mark.slow
def test_book_builds_offline_with_every_page_and_the_slider(built_book):
    for page in _pages(built_book):
        assert page.exists(), f"missing page {page}"
        parser = _Resources()
        parser.feed(page.read_text())
        external = [u for u in parser.scripts + parser.styles if re.match(r"^(https?:)?//", u)]
        assert not external, f"{page.name} loads {external}"
        for url in parser.scripts + parser.styles:
            local = (page.parent / url.split("?")[0]).resolve()
            assert local.exists(), f"{page.name} refers to {url}, which the build does not have"
    chapter3 = (built_book / "chapters" / "03_adrpo_mnist.html").read_text()
    assert 'class="adrpo-slider"' in chapter3 and 'type="range"' in chapter3
    qwen_page = built_book / "chapters" / "05_qwen_grpo.html"
    if qwen_page.exists():  # the language-model chapter's slider shows text completions instead of images
        text = qwen_page.read_text()
        assert 'class="adrpo-slider"' in text and 'class="samples-text"' in text and "&lt;answer&gt;" in text
    assert "vendor/mathjax/tex-chtml.js" in (built_book / "chapters" / "01_introduction.html").read_text()


# ----------------------------------------------------------------------------- a real browser
def _browser():
    chromium, driver = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    if not (chromium.exists() and driver.exists()):
        pytest.skip("headless Chromium is missing: scripts/setup.sh installs Debian's chromium + chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(chromium)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1600", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(str(driver)), options=opts)


@pytest.fixture(scope="module")
def served_book(built_book):
    import functools
    import http.server
    import threading

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _wait(driver, script, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


MATH_TYPESET = """
const math = document.querySelectorAll('span.math, div.math');
return math.length > 0 && Array.from(math).every(m => m.querySelector('mjx-container'));
"""
RAW_TEX_LEFT = """
const t = document.querySelector('main, article, body').innerText;
return t.includes('\\\\(') || t.includes('\\\\[') || t.includes('$$');
"""


@pytest.mark.slow
def test_pages_render_math_and_the_static_slider_moves(served_book, built_book):
    shots = built_book.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    driver = _browser()
    try:
        for name in ("01_introduction", "03_adrpo_mnist"):
            driver.get(f"{served_book}/chapters/{name}.html")
            _wait(driver, MATH_TYPESET)
            assert not driver.execute_script(RAW_TEX_LEFT), f"raw TeX left on {name}"
            driver.save_screenshot(str(shots / f"{name}.png"))
            resources = driver.execute_script(
                "return performance.getEntriesByType('resource').map(r => r.name)")
            assert all(r.startswith(served_book) or r.startswith("data:") for r in resources), resources
        slider = driver.find_element("css selector", ".adrpo-slider input[type=range]")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
        img = driver.find_element("css selector", ".adrpo-slider img")
        before_src, before_beta = img.get_attribute("src"), img.get_attribute("data-beta0")
        driver.save_screenshot(str(shots / "slider_before.png"))
        driver.execute_script(
            "const s = arguments[0]; s.value = (+s.value + 1) % (+s.max + 1); s.dispatchEvent(new Event('input'));",
            slider)  # fmt: skip
        assert img.get_attribute("data-beta0") != before_beta
        assert img.get_attribute("src") != before_src
        stats = driver.find_element("css selector", ".adrpo-slider .stats").text
        assert f"β0 = {img.get_attribute('data-beta0')}" in stats
        driver.save_screenshot(str(shots / "slider_after.png"))
    finally:
        driver.quit()


# ----------------------------------------------------------------------------- every page, as a reader sees it
PAGE_PROBLEMS = r"""
const root = document.querySelector('main, article, body');
const text = root.innerText;
const prose = root.cloneNode(true);
prose.querySelectorAll('pre, code, script, style, .highlight').forEach(e => e.remove());
const broken = Array.from(document.images).filter(i => i.getClientRects().length > 0 && i.complete
                                                   && i.naturalWidth === 0).map(i => i.src.slice(0, 80) || i.alt);
const rawTable = /\|\s*:?-{3,}:?\s*\|/.test(prose.textContent);
const paths = text.match(/(^|[\s"'(=])\/(work|tmp|root|home|Users)\/[^\s"')]+/g) || [];
// progress bars in what the cells printed (an API docstring may name them: only outputs count)
const outputs = Array.from(document.querySelectorAll('.cell_output')).map(e => e.innerText).join('\n');
const progress = /\d+it\/s\]|Loading (weights|pipeline components)|Epoch \d+\/\d+\]/.test(outputs)
                 || document.querySelectorAll('.cell_output progress').length > 0;
const tracebacks = document.querySelectorAll('.output.traceback, .output.error, .cell_output .ansi-red-fg').length
                   + (text.includes('Traceback (most recent call last)') ? 1 : 0);
return {broken, rawTable, paths, tracebacks, progress, banner: document.querySelectorAll('.adrpo-smoke').length,
        rawTex: text.includes('\\(') || text.includes('\\[') || text.includes('$$')};
"""


def _reader_pages(html_dir: Path) -> list[Path]:
    skip = {"genindex.html", "search.html", "py-modindex.html"}
    return sorted(p for p in html_dir.rglob("*.html") if p.name not in skip
                  and not any(part.startswith("_") for part in p.relative_to(html_dir).parts))  # fmt: skip


def _build_mode(html_dir: Path) -> str:
    """``smoke`` or ``full``: scripts/build_book.sh and the test fixture record it beside the HTML."""
    marker = html_dir / ".adrpo-build.json"
    return json.loads(marker.read_text())["mode"] if marker.exists() else "smoke"


@pytest.mark.slow
def test_every_page_renders_for_a_reader(served_book, built_book):
    """Every page of the built book in Chromium: no broken image, no raw Markdown table, no machine path, no
    traceback, no raw TeX; the smoke build's chapters carry the smoke banner, the full build has none. A
    full-page screenshot of each page is saved under book/_build/screenshots/pages/."""
    shots = built_book.parent / "screenshots" / "pages"
    shots.mkdir(parents=True, exist_ok=True)
    mode = _build_mode(built_book)
    driver = _browser()
    problems = []
    try:
        for page in _reader_pages(built_book):
            rel = page.relative_to(built_book).as_posix()
            driver.get(f"{served_book}/{rel}")
            if driver.execute_script("return document.querySelectorAll('span.math, div.math').length > 0"):
                _wait(driver, MATH_TYPESET)
            driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
            _wait(driver, "return Array.from(document.images).every(i => i.complete)", timeout=20)
            found = driver.execute_script(PAGE_PROBLEMS)
            for key in ("broken", "paths"):
                if found[key]:
                    problems.append(f"{rel}: {key} {found[key][:3]}")
            for key in ("rawTable", "rawTex", "progress"):
                if found[key]:
                    problems.append(f"{rel}: {key}")
            if found["tracebacks"]:
                problems.append(f"{rel}: {found['tracebacks']} traceback/error outputs")
            is_chapter = rel.startswith("chapters/")
            if mode == "smoke" and is_chapter and not found["banner"]:
                problems.append(f"{rel}: smoke build without the adrpo-smoke banner")
            if mode == "full" and found["banner"]:
                problems.append(f"{rel}: full build shows the smoke banner")
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1280, min(max(height, 800), 16000))
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(str(shots / (rel.replace("/", "__").removesuffix(".html") + ".png")))
            driver.set_window_size(1280, 1600)
    finally:
        driver.quit()
    assert not problems, "\n".join(problems)
