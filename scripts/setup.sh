#!/usr/bin/env bash
# Set up a fresh machine for kvant: system packages (Vulkan/lavapipe for WebGPU, Chromium, the
# Python interop packages), pnpm, the workspace's npm packages, and a first build
# (generated kernel headers, the wasm module, the CUDA emulation and CUDA addons).
# Safe to run again: every step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

if [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; then
  bash scripts/setup-system.sh
else
  log "not root and no sudo: skipping system packages (WebGPU on lavapipe, Chromium, Python interop)"
fi

PNPM_VERSION=12.4.2
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  log "installing pnpm $PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION"
fi

log "installing npm packages"
pnpm install --frozen-lockfile --reporter=append-only | tail -n 3

log "building (kernels, wasm module, CUDA addons)"
pnpm run build
log "ready: 'pnpm demo' runs the demo, 'pnpm test' the tests"
