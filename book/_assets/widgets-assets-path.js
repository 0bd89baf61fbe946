// Tell the ipywidgets HTML manager where it lives (_static/vendor/html-manager/, served by this book):
// its icon fonts are resolved against its AMD module path, which require.js would otherwise take
// relative to each page. Loaded before require.js, so the global `require` object is its config.
(function () {
  var src = document.currentScript && document.currentScript.src;
  if (!src) {
    return;
  }
  var base = src.replace(/[^/]*$/, "") + "vendor/html-manager";
  window.__jupyter_widgets_assets_path__ = base + "/";
  window.require = { paths: { "@jupyter-widgets/html-manager/dist": base } };
})();
