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
    # the page's console (console.error, uncaught errors and rejections, failed loads): driver.get_log("browser")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(driver)), options=opts)


class _Serve:
    """A folder served on 127.0.0.1 (a free port) for as long as the ``with`` block runs: ``url``."""

    def __init__(self, folder: Path):
        import functools
        import http.server

        class QuietHandler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        handler = functools.partial(QuietHandler, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        import threading

        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def served_book(built_book):
    with _Serve(built_book) as served:
        yield served.url


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


# Console messages a page may log and still be whole: {regular expression on the message: why it is harmless}.
# Every other SEVERE entry (console.error, an uncaught error or promise rejection, a file that failed to load)
# fails the page. Empty: nothing the book loads is expected to fail, offline or not.
CONSOLE_ALLOWED: dict[str, str] = {}


def _console_errors(driver) -> list[str]:
    """The SEVERE entries of the browser's console since the last call (reading the log empties it), less
    ``CONSOLE_ALLOWED``."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and not any(re.search(pat, e["message"]) for pat in CONSOLE_ALLOWED)]  # fmt: skip


def _load(driver, url: str) -> None:
    """Open ``url`` and wait until its math is typeset and every image has loaded (scrolled to the end first)."""
    driver.get(url)
    if driver.execute_script("return document.querySelectorAll('span.math, div.math').length > 0"):
        _wait(driver, MATH_TYPESET)
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    _wait(driver, "return Array.from(document.images).every(i => i.complete)", timeout=20)


NARROW = 390  # px: a phone held upright

# At the window's width: how wide the page is (it must not scroll sideways), which images or figures reach past
# the right edge or are drawn out of proportion, and which tables, code blocks and equations are wider than the
# screen without a box of their own that scrolls sideways (overflow-x auto/scroll) and itself fits.
OVERFLOW_PROBLEMS = r"""
const vw = window.innerWidth, slack = 1;
const root = document.querySelector('article') || document.querySelector('main') || document.body;
const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
const right = e => Math.round(e.getBoundingClientRect().right);
const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
// how far right an element or the content spilling out of it reaches (a <pre> keeps the width of its parent);
// `spill` counts what a clip hides too, `reach` only what shows. A formula's box is its width: its scrollWidth
// counts MathJax's hidden copy for screen readers (mjx-assistive-mml) too.
const extent = e => e.tagName === 'MJX-CONTAINER' ? right(e)
                    : Math.max(right(e), Math.round(e.getBoundingClientRect().left + e.scrollWidth));
const reach = e => getComputedStyle(e).overflowX === 'visible' ? extent(e) : right(e);
const spill = e => scrolls(e) ? right(e) : extent(e);
const label = e => {
  const cls = typeof e.className === 'string' ? e.className.trim().split(/\s+/).filter(Boolean).slice(0, 2) : [];
  const near = e.parentElement && e.parentElement.closest('section[id]');
  return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + cls.map(c => '.' + c).join('')
         + (near ? ' in #' + near.id : '');
};
// the nearest element from `e` up that does not let its content spill sideways: a scroll box or a clip
const container = e => {
  for (let p = e; p && p !== document.body && p !== document.documentElement; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== 'visible') return p;
  }
  return null;
};
const images = [];
for (const e of root.querySelectorAll('img, svg, figure, video, canvas, iframe')) {
  if (!shown(e) || right(e) <= vw + slack) continue;
  const box = e.parentElement && container(e.parentElement), w = e.getBoundingClientRect().width;
  if (box && scrolls(box) && w <= box.clientWidth + slack) continue;  // a small image inside a wide, scrolling table
  images.push(`${label(e)}: ${Math.round(w)} px wide, its right edge at ${right(e)} px`);
}
for (const i of root.querySelectorAll('img')) {  // scaled, but out of proportion (object-fit keeps it)
  if (!shown(i) || !i.naturalWidth || !i.naturalHeight || i.width < 16 || i.height < 16
      || ['contain', 'cover', 'scale-down'].includes(getComputedStyle(i).objectFit)) continue;
  const drawn = i.width / i.height, made = i.naturalWidth / i.naturalHeight;
  if (Math.abs(drawn / made - 1) > 0.03) {
    images.push(`${label(i)}: drawn ${i.width}×${i.height} px, out of proportion with its `
                + `${i.naturalWidth}×${i.naturalHeight} px picture`);
  }
}
// the box that holds `e` in: the nearest scroll box, or a clip it spills out of (a clip it fits in is passed by)
const holder = e => {
  for (let p = container(e); p; p = p.parentElement && container(p.parentElement)) {
    if (scrolls(p) || spill(e) > right(p) + slack) return p;
  }
  return null;
};
const wide = [];
for (const e of root.querySelectorAll('table, pre, mjx-container')) {  // equations in a line of text too
  if (!shown(e) || spill(e) <= vw + slack) continue;
  const box = holder(e), what = `${label(e)} (reaching ${spill(e)} px)`;
  if (!box) wide.push(`${what} widens the page: no box of its own that scrolls sideways`);
  else if (!scrolls(box)) wide.push(`${what} is cut off by ${label(box)} (overflow-x: hidden)`);
  else if (right(box) > vw + slack) wide.push(`${what} scrolls in ${label(box)}, itself wider than the screen`);
}
// a table made to stack (adrpo_nb.viz.table(stack=True)) shows every cell on screen: none is left to scroll to
for (const t of root.querySelectorAll('table.adrpo-stack')) {
  const limit = Math.min(vw, right(t.parentElement || t));
  const out = Array.from(t.querySelectorAll('td')).filter(c => shown(c) && right(c) > limit + slack);
  if (out.length) wide.push(`${label(t)} stacks no rows: ${out.length} of its cells lie past the screen's edge`);
}
const page = document.documentElement.scrollWidth;
let culprits = [];
if (page > vw + slack) {  // the innermost elements past the right edge that no box holds in, fixed ones aside
  const fixed = e => {
    for (let p = e; p; p = p.parentElement) if (getComputedStyle(p).position === 'fixed') return true;
    return false;
  };
  const out = Array.from(document.body.querySelectorAll('*')).filter(e => shown(e) && reach(e) > vw + slack
      && !(e.parentElement && container(e.parentElement)) && !fixed(e));
  culprits = out.filter(e => !out.some(o => o !== e && e.contains(o))).slice(0, 5)
                .map(e => `${label(e)} (reaching ${reach(e)} px)`);
}
return {vw, page, images, wide, culprits};
"""


def _overflow_problems(driver) -> list[str]:
    """What ``OVERFLOW_PROBLEMS`` finds on the open page at the window's present width, as sentences."""
    driver.execute_async_script("requestAnimationFrame(() => requestAnimationFrame(arguments[0]))")  # laid out
    found = driver.execute_script(OVERFLOW_PROBLEMS)
    problems = []
    if found["page"] > found["vw"] + 1:
        problems.append(f"the page scrolls sideways ({found['page']} px wide in a {found['vw']} px window; "
                        f"reaching past the edge: {found['culprits']})")  # fmt: skip
    problems += [f"image does not fit: {x}" for x in found["images"]]
    return problems + found["wide"]


def _full_page_shot(driver, width: int, path: Path) -> None:
    """A screenshot of the whole page (up to 100000 px tall: the API page is about 70000 at 390 px) at ``width``
    px: the window is made as tall as the page, so the theme's sticky header shows once, at the top."""
    driver.set_window_size(width, 1600)
    chrome = driver.execute_script("return window.outerHeight - window.innerHeight")  # headless still has some
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(height, 800), 100000) + chrome)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))


@pytest.mark.slow
def test_every_page_renders_for_a_reader(served_book, built_book):
    """Every page of the built book in Chromium: no broken image, no raw Markdown table, no machine path, no
    traceback, no raw TeX, nothing SEVERE on the console; the smoke build's chapters carry the smoke banner, the
    full build has none. At 1280 and at NARROW px wide the page does not scroll sideways, figures fit and wide
    tables, code and formulas scroll in their own box. Full-page screenshots of each page are saved under
    book/_build/screenshots/pages/ (1280 px) and book/_build/screenshots/pages-390/."""
    shots = built_book.parent / "screenshots" / "pages"
    narrow_shots = built_book.parent / "screenshots" / f"pages-{NARROW}"
    for folder in (shots, narrow_shots):
        folder.mkdir(parents=True, exist_ok=True)
    mode = _build_mode(built_book)
    driver = _browser()
    problems = []
    try:
        _console_errors(driver)
        for page in _reader_pages(built_book):
            rel = page.relative_to(built_book).as_posix()
            shot = rel.replace("/", "__").removesuffix(".html") + ".png"
            driver.set_window_size(1280, 1600)
            _load(driver, f"{served_book}/{rel}")
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
            problems += [f"{rel} at 1280 px: {p}" for p in _overflow_problems(driver)]
            _full_page_shot(driver, 1280, shots / shot)
            driver.set_window_size(NARROW, 1600)
            problems += [f"{rel} at {NARROW} px: {p}" for p in _overflow_problems(driver)]
            _full_page_shot(driver, NARROW, narrow_shots / shot)
            problems += [f"{rel}: console: {m[:300]}" for m in _console_errors(driver)]
    finally:
        driver.quit()
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------- the browser checks on small pages
# Each check fails on a page made to break it (and passes a page that does it right), without the book's build.
_WIDE_ROW = "<tr>" + "".join(f"<td>column_{i}_wide_cell</td>" for i in range(30)) + "</tr>"
_LONG_LINE = "x = [" + ", ".join(f"'item_{i}'" for i in range(60)) + "]"
_WIDE_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="900" height="200"><rect width="900" height="200"/></svg>'
# what Sphinx's basic.css and pydata-sphinx-theme do to inline code and inline formulas, and the book's own fix
_THEME = ("<style>span.pre {white-space: nowrap} span.math {display: inline-flex; max-width: 100%; overflow: hidden}"
          " mjx-container {display: block; white-space: nowrap}</style>")  # fmt: skip
_BOOK = '<link rel="stylesheet" href="adrpo.css"><script src="adrpo.js"></script>'
_CLAIMS = ('<div style="overflow-x: auto; max-width: 100%"><table class="adrpo-table adrpo-stack"><thead><tr>'
           "<th>claim</th><th>estimate</th><th>verdict</th></tr></thead><tbody><tr>"
           f'<td data-label="claim">{"A claim in a whole sentence. " * 6}Measured: final.even_entropy_norm_paired</td>'
           '<td data-label="estimate" style="white-space: nowrap">+0.012 [−0.020, +0.044], 5 seeds</td>'
           f'<td data-label="verdict">partly ({"the ledger notes a caveat " * 4})</td></tr></tbody></table></div>')
_LONG_NAME = f'<code class="literal"><span class="pre">adrpo_nb.{"a_long_module_name." * 4}book_run</span></code>'
_LONG_FORMULA = f'<span class="math"><mjx-container>{" + ".join(f"x_{i}" for i in range(40))}</mjx-container></span>'
_FIELDS = ('<dl class="field-list" style="display: grid; grid-template-columns: fit-content(30%) auto">'
           f"<dt>Parameters</dt><dd><p>x ({_LONG_NAME})</p></dd></dl>")  # an API entry's field list
FIXTURE_PAGES = {
    "fits.html": f"""<div style="overflow-x: auto"><table>{_WIDE_ROW}</table></div>
        <pre style="overflow-x: auto">{_LONG_LINE}</pre><img src="wide.svg" style="max-width: 100%">
        <img src="wide.svg" style="width: 100px; height: 100px; object-fit: contain">
        <p>{"word " * 200}</p><script>console.log("fine"); console.warn("a warning is not an error")</script>""",
    "wide_table.html": f"<table>{_WIDE_ROW}</table>",
    "clipped_table.html": f'<div style="overflow: hidden"><table>{_WIDE_ROW}</table></div>',
    "wide_scroll_box.html": f'<div style="overflow-x: auto; width: 900px"><table>{_WIDE_ROW}</table></div>',
    "wide_code.html": f"<pre>{_LONG_LINE}</pre>",
    "wide_image.html": '<figure><img src="wide.svg"></figure>',
    "squashed_image.html": '<img src="wide.svg" style="width: 224px; height: 224px">',
    "long_name.html": f'{_THEME}<article class="bd-article"><p>It is {_LONG_NAME}.</p></article>',
    "long_name_book.html": f'{_THEME}{_BOOK}<article class="bd-article"><p>It is {_LONG_NAME}.</p></article>',
    "long_field.html": f'{_THEME}<article class="bd-article">{_FIELDS}</article>',
    "long_field_book.html": f'{_THEME}{_BOOK}<article class="bd-article">{_FIELDS}</article>',
    "long_formula.html": f'{_THEME}<article class="bd-article"><p>So {_LONG_FORMULA}.</p></article>',
    "long_formula_book.html": f'{_THEME}{_BOOK}<article class="bd-article"><p>So {_LONG_FORMULA}.</p></article>',
    "stacked_table.html": f'<article class="bd-article">{_CLAIMS}</article>',
    "stacked_table_book.html": f'{_BOOK}<article class="bd-article">{_CLAIMS}</article>',
    "console_error.html": "<script>console.error('boom from the page')</script>",
    "uncaught.html": "<script>null.answer;</script>",
    "rejection.html": "<script>Promise.reject(new Error('nobody waited'));</script>",
    "missing_script.html": '<script src="missing.js"></script>',
}


@pytest.fixture(scope="module")
def fixture_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    (folder / "wide.svg").write_text(_WIDE_SVG)
    for asset in ("adrpo.css", "adrpo.js"):  # the book's own
        (folder / asset).write_text((ROOT / "book" / "_assets" / asset).read_text())
    head = '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
    head += '<link rel="icon" href="data:,">'  # no request for /favicon.ico (its 404 is a console error)
    for name, body in FIXTURE_PAGES.items():
        (folder / name).write_text(f"<!doctype html><html><head>{head}</head><body>{body}</body></html>")
    driver = _browser()
    try:
        with _Serve(folder) as served:
            driver.set_window_size(NARROW, 800)
            yield driver, served.url
    finally:
        driver.quit()


@pytest.mark.parametrize(("page", "expected"), [
    ("fits.html", None),
    ("wide_table.html", "the page scrolls sideways"),
    ("wide_table.html", "table (reaching"),
    ("clipped_table.html", "is cut off by div"),
    ("wide_scroll_box.html", "itself wider than the screen"),
    ("wide_code.html", "pre (reaching"),
    ("wide_image.html", "image does not fit: img"),
    ("squashed_image.html", "out of proportion with its 900×200 px picture"),
    ("long_name.html", "the page scrolls sideways"),
    ("long_name_book.html", None),  # book/_assets/adrpo.css breaks it
    ("long_field.html", "the page scrolls sideways"),
    ("long_field_book.html", None),
    ("long_formula.html", "is cut off by span.math"),
    ("long_formula_book.html", None),  # book/_assets/adrpo.js and .css let it scroll
    ("stacked_table.html", "stacks no rows"),
    ("stacked_table_book.html", None),  # book/_assets/adrpo.css makes each row a card
])  # fmt: skip
def test_the_narrow_check_finds_what_widens_the_page(fixture_site, page, expected):
    driver, url = fixture_site
    _load(driver, f"{url}/{page}")
    assert driver.execute_script("return window.innerWidth") == NARROW
    problems = _overflow_problems(driver)
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(("page", "expected"), [
    ("fits.html", None),
    ("console_error.html", "boom from the page"),
    ("uncaught.html", "Uncaught TypeError"),
    ("rejection.html", "nobody waited"),
    ("missing_script.html", "missing.js"),
])  # fmt: skip
def test_the_console_check_finds_errors(fixture_site, page, expected, monkeypatch):
    driver, url = fixture_site
    _console_errors(driver)
    _load(driver, f"{url}/{page}")
    errors = _console_errors(driver)
    if expected is None:
        assert errors == []
        return
    assert any(expected in e for e in errors), errors
    # an allow-listed message passes, and only that one
    _load(driver, f"{url}/{page}")
    monkeypatch.setitem(CONSOLE_ALLOWED, re.escape(expected), "fixture: allowed for this test")
    assert not [e for e in _console_errors(driver) if expected in e]


def test_every_allowed_console_message_says_why():
    assert all(isinstance(why, str) and len(why.split()) >= 3 for why in CONSOLE_ALLOWED.values())
