#!/usr/bin/env bash
# Copy the JavaScript the book serves itself into book/_assets/vendor/ (served as _static/vendor/) (MathJax 3, require.js, the
# ipywidgets HTML manager), from the npm registry at the versions pinned in book/package-lock.json.
# Idempotent: does nothing when the files are already there.
set -euo pipefail
cd "$(dirname "$0")/../book"
vendor=_assets/vendor
if [ -f "$vendor/.complete" ] && [ "$(cat "$vendor/.complete")" = "$(sha256sum package-lock.json | cut -d' ' -f1)" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "fetch_vendor: npm is needed to fetch MathJax/require.js/html-manager" >&2; exit 1; }
npm ci --no-audit --no-fund --silent --ignore-scripts
rm -rf "$vendor" && mkdir -p "$vendor/mathjax" "$vendor/html-manager"
# MathJax: the combined TeX->CHTML component plus what it loads on demand (no speech-rule engine)
(cd node_modules/mathjax/es5 && cp -r tex-chtml.js input output adaptors a11y ui "$OLDPWD/$vendor/mathjax/")
cp node_modules/requirejs/require.js "$vendor/require.min.js"
# the widget manager and the fonts/assets its CSS refers to (source maps left out)
find node_modules/@jupyter-widgets/html-manager/dist -maxdepth 1 -type f ! -name '*.map' ! -name 'embed.js*' \
  -exec cp {} "$vendor/html-manager/" \;
sha256sum package-lock.json | cut -d' ' -f1 > "$vendor/.complete"
echo "fetch_vendor: $(du -sh "$vendor" | cut -f1) in book/$vendor"
