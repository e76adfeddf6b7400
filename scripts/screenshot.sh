#!/usr/bin/env bash
# docs/report.png, the README's picture: the report (reports/index.html) from its title to the
# lecture's table, as headless Chromium shows it in a 1400 x 900 window. Build the page first, from the default grid
# or the tiny one:
#
#   .venv/bin/snakemake --cores all                                          # or
#   .venv/bin/snakemake --cores all --configfile params.yaml tests/tiny.yaml
#   bash scripts/screenshot.sh [PAGE] [PNG]       (defaults: reports/index.html docs/report.png)
set -euo pipefail
cd "$(dirname "$0")/.."
page=${1:-reports/index.html}
png=${2:-docs/report.png}
if [ ! -f "$page" ]; then
  echo "error: $page does not exist; build the report first: .venv/bin/snakemake --cores all" >&2
  exit 2
fi
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "error: no chromium found; install it (Debian: apt-get install chromium) and rerun" >&2
  exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
mkdir -p "$(dirname "$png")"
png=$(cd "$(dirname "$png")" && pwd)/$(basename "$png")
page=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
# The picture is the title and the lecture's table: a copy of the page hides the contents and the
# settings above the table (headless Chromium paints nothing when it scrolls to an anchor).
shown="$profile/page.html"
sed 's#</head>#<style>\#contents, \#settings, \#settings + ul {display: none}</style></head>#' "$page" >"$shown"
# --no-sandbox: Chromium refuses to run as root without it; the page is the project's own file.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1400,900 --screenshot="$png" "file://$shown" \
  >"$profile/chromium.log" 2>&1 || {
  echo "error: chromium failed to render $page; its output: $(tail -n 1 "$profile/chromium.log")" >&2
  exit 1
}
echo "wrote $png (1400 x 900) from $page (its title and the lecture's table)"
