#!/usr/bin/env bash
# CTest driver: starts `troupe daemon` (a SPOC workflow on the scripted TEST
# backend) on a free loopback port, runs the client test CLIENT (default
# daemon_client.mjs) as `node CLIENT daemon URL spoc/scripted TOKEN`, stops
# the daemon with SIGTERM and checks it exited 0. Exits 77 (skipped) when
# node or an npm package the clients import is not installed.
set -euo pipefail
troupe="$1"
client="${2:-daemon_client.mjs}"
here="$(cd "$(dirname "$0")" && pwd)"
for pkg in openai @langchain/openai @langchain/core ai @ai-sdk/openai; do
  if ! command -v node >/dev/null || [ ! -d "$here/node_modules/$pkg" ]; then
    echo "skipped: node or the $pkg npm package is missing (run: cd tests/npm && npm install)"
    exit 77
  fi
done
work="$(mktemp -d)"
daemon=""
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/workflows"
cat > "$work/workflows/spoc.yaml" <<'YAML'
pipeline: spoc
roles:
  solver: {template: "SOLVE: {question}"}
  verifier: {template: "VERIFY {question} => {solution}"}
params: {max_turns: 3}
YAML
cat > "$work/rules.yaml" <<'YAML'
rules:
  - {match: 'VERIFY[\s\S]*boxed\{5\}', regex: true, reply: "5 is wrong. Verdict: No"}
  - {match: "VERIFY", reply: "Checked. Verdict: Yes"}
  - {match: "judged it incorrect", reply: "Fixed: \\boxed{4}"}
  - {match: "SOLVE: TWICE", reply: "First try: \\boxed{5}"}
  - {match: "SOLVE:", reply: "So \\boxed{4}"}
YAML
cat > "$work/troupe.yaml" <<'YAML'
listen: {host: 127.0.0.1, port: 0}
token_env: TROUPE_TEST_TOKEN
workflows_dir: workflows
db: troupe.db
backends:
  scripted: {kind: scripted, fixture: rules.yaml}
YAML
export TROUPE_TEST_TOKEN="npm-$$-token"
# The daemon's stderr through a FIFO: read until it says where it listens.
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
node "$here/$client" daemon "$url" spoc/scripted "$TROUPE_TEST_TOKEN" || status=$?
kill -TERM "$daemon"
code=0
wait "$daemon" || code=$?
daemon=""
[ "$code" -eq 0 ] || { echo "troupe daemon exited $code after SIGTERM"; status=1; }
exit "$status"
