#!/usr/bin/env bash
# CTest driver: makes a small random-weight model, starts `troupe serve` on
# a free loopback port, runs structured_clients.mjs against it, stops the server.
# Exits 77 (skipped) when node or one of the client packages is not installed.
set -euo pipefail
troupe="$1"
here="$(cd "$(dirname "$0")" && pwd)"
missing=""
for pkg in openai @langchain/openai @langchain/core ai @ai-sdk/openai zod; do
  [ -d "$here/node_modules/$pkg" ] || missing="$missing $pkg"
done
if ! command -v node >/dev/null || [ -n "$missing" ]; then
  echo "skipped: node or npm packages are missing:${missing:- node} (run: cd tests/npm && npm install)"
  exit 77
fi
work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
"$troupe" mkmodel --arch qwen2 --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 --vocab 400 --seed 3 \
  -o "$work/m.gguf" >/dev/null
"$troupe" serve "$work/m.gguf" --port 0 --model-name tiny --threads 1 2>"$work/serve.log" &
server=$!
url=""
for _ in $(seq 1 100); do
  url="$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 || true)"
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "troupe serve did not start"; cat "$work/serve.log"; exit 1; }
node "$here/structured_clients.mjs" "$url" tiny
