#!/usr/bin/env bash
# CTest driver for the trajectory viewer (docs/viewer.md): starts a real
# `troupe daemon` over the example workflows of every pipeline (SPOC, LeaP,
# IAD, Archon, LINC, CoC), each on a scripted backend answering from its
# examples/fixtures file, then runs viewer_test.mjs (headless chromium via
# puppeteer-core) against it. Screenshots go to the folder given as $2.
# Exits 77 (skipped) when node, chromium or the npm packages are missing.
#   run_viewer_test.sh TROUPE_BINARY ARTIFACT_DIR
set -euo pipefail
troupe="$1"
artifacts="$2"
here="$(cd "$(dirname "$0")" && pwd)"
examples="$(cd "$here/../../examples" && pwd)"
chromium="${CHROMIUM:-$(command -v chromium || true)}"
if ! command -v node >/dev/null; then
  echo "skipped: node is not installed"; exit 77
fi
if [ -z "$chromium" ]; then
  echo "skipped: chromium is not installed (apt-get install chromium; scripts/setup does)"; exit 77
fi
if [ ! -d "$here/node_modules/puppeteer-core" ]; then
  echo "skipped: puppeteer-core is not installed (cd tests/browser && npm install; scripts/setup does)"; exit 77
fi
if ! command -v eprover >/dev/null; then
  echo "skipped: eprover is not installed (the LINC run needs it)"; exit 77
fi
work="$(mktemp -d)"
daemon=""
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/workflows" "$artifacts"
for p in spoc leap iad archon linc coc; do cp "$examples/$p.yaml" "$work/workflows/$p.yaml"; done
# A backend whose verifier call is held until the run is cancelled: a run
# that stays running while the page watches it.
cat > "$work/hold.yaml" <<'YAML'
rules:
  - {match: "You are checking", hold: true}
  - {match: "Solve the following", reply: "So \\boxed{42}"}
YAML
cat > "$work/troupe.yaml" <<YAML
listen: {host: 127.0.0.1, port: 0}
token_env: TROUPE_VIEWER_TEST_TOKEN
workflows_dir: workflows
db: troupe.db
concurrency: 4
backends:
  spoc: {kind: scripted, fixture: $examples/fixtures/spoc-arithmetic.yaml}
  leap: {kind: scripted, fixture: $examples/fixtures/leap-demo.yaml}
  iad: {kind: scripted, fixture: $examples/fixtures/iad-arithmetic.yaml}
  archon: {kind: scripted, fixture: $examples/fixtures/archon-demo.yaml}
  linc: {kind: scripted, fixture: $examples/fixtures/linc-demo.yaml}
  coc: {kind: scripted, fixture: $examples/fixtures/coc-lighthouse.yaml}
  hold: {kind: scripted, fixture: hold.yaml}
YAML
export TROUPE_VIEWER_TEST_TOKEN="viewer-$$-token"
mkfifo "$work/log"
"$troupe" daemon --config "$work/troupe.yaml" 2>"$work/log" &
daemon=$!
exec 3<"$work/log"
url=""
while IFS= read -r line <&3; do
  echo "$line"
  if [[ "$line" =~ (http://127\.0\.0\.1:[0-9]+) ]]; then url="${BASH_REMATCH[1]}"; break; fi
done
[ -n "$url" ] || { echo "troupe daemon did not start"; exit 1; }
cat <&3 >"$work/rest.log" &
status=0
node "$here/viewer_test.mjs" "$url" "$TROUPE_VIEWER_TEST_TOKEN" "$examples" "$artifacts" "$chromium" "$troupe" || status=$?
kill -TERM "$daemon"
code=0
wait "$daemon" || code=$?
daemon=""
[ "$code" -eq 0 ] || { echo "troupe daemon exited $code after SIGTERM"; tail -20 "$work/rest.log"; status=1; }
exit "$status"
