#!/usr/bin/env bash
# CTest driver: makes a small random-weight model (and one without a chat
# template), starts `troupe serve` on each (a free loopback port; the first
# with a bearer token and a 512-token context), runs the client test CLIENT
# (default openai_client.mjs) as
#   node CLIENT serve URL MODEL TOKEN CONTEXT NO_TEMPLATE_URL
# and stops the servers. Exits 77 (skipped) when node or an npm package the
# client imports is not installed (scripts/setup installs them).
set -euo pipefail
troupe="$1"
client="${2:-openai_client.mjs}"
here="$(cd "$(dirname "$0")" && pwd)"
for pkg in openai @langchain/openai @langchain/core ai @ai-sdk/openai; do
  if ! command -v node >/dev/null || [ ! -d "$here/node_modules/$pkg" ]; then
    echo "skipped: node or the $pkg npm package is missing (run: cd tests/npm && npm install)"
    exit 77
  fi
done
work="$(mktemp -d)"
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
mkmodel() {
  "$troupe" mkmodel --arch qwen2 --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 --vocab 400 --seed 3 "$@" >/dev/null
}
# Starts `troupe serve ARGS...` logging to $work/$1.log; sets $url.
serve() {
  local name="$1"
  shift
  "$troupe" serve "$@" --port 0 --model-name tiny --threads 1 2>"$work/$name.log" &
  servers+=("$!")
  url=""
  for _ in $(seq 1 100); do
    url="$(grep -o 'http://127.0.0.1:[0-9]*' "$work/$name.log" | head -1 || true)"
    [ -n "$url" ] && return 0
    kill -0 "${servers[-1]}" 2>/dev/null || { cat "$work/$name.log"; exit 1; }
    sleep 0.1
  done
  echo "troupe serve did not start"
  cat "$work/$name.log"
  exit 1
}
mkmodel -o "$work/m.gguf"
mkmodel --no-chat-template -o "$work/plain.gguf"
export TROUPE_TEST_TOKEN="npm-$$-token"
context=512
serve main "$work/m.gguf" --context "$context" --token-env TROUPE_TEST_TOKEN
main_url="$url"
serve plain "$work/plain.gguf"
plain_url="$url"
grep -q -- '--chat-template' "$work/plain.log" || { echo "no warning about the missing chat template:"; cat "$work/plain.log"; exit 1; }
node "$here/$client" serve "$main_url" tiny "$TROUPE_TEST_TOKEN" "$context" "$plain_url"
