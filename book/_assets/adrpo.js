// The book's own script (sphinx.config.html_js_files in _config.yml).
// An inline formula wider than its line: pydata-sphinx-theme draws each one in a span.math with
// overflow: hidden, so on a phone the end of a long formula was cut off. Such a formula gets the class
// adrpo-wide-math, which lets it scroll sideways (adrpo.css); the others keep the theme's look (a formula's
// glyphs may overhang its box by a few pixels, and a scroll box would show a needless scroll bar for that).
// Marked once MathJax has typeset the page, and again whenever the window changes size.
(function () {
  function mark() {
    document.querySelectorAll("span.math").forEach(function (span) {
      var formula = span.querySelector("mjx-container");
      var wide = !!formula && formula.getBoundingClientRect().width > span.clientWidth + 1;
      span.classList.toggle("adrpo-wide-math", wide);
    });
  }
  function start() {
    var mathjax = window.MathJax;
    var typeset = mathjax && mathjax.startup && mathjax.startup.promise;
    (typeset || Promise.resolve()).then(mark);
    window.addEventListener("resize", mark);
  }
  if (document.readyState === "complete") {
    start();
  } else {
    window.addEventListener("load", start);
  }
})();
