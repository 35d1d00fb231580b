#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for kvant's full test suite:
#   - Mesa lavapipe (Vulkan on the CPU) new enough for Dawn (WebGPU in Node);
#   - cmake (cmake-js builds the CUDA addons with it) and xz;
#   - Chromium for the browser conformance test;
#   - Python packages for the interop tests (safetensors, torch, numpy, transformers).
# Idempotent: each step is skipped when what it installs is already there.
set -euo pipefail

log() { printf '[setup-system] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_updated=0
apt_update() { if [ $apt_updated = 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi; }

. /etc/os-release
log "Debian ${VERSION_ID:-?} (${VERSION_CODENAME:-?})"

# --- Vulkan (lavapipe) for WebGPU through Dawn -------------------------------------------------
mesa_ok() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] || return 1
  local major=${v%%.*}; major=${major##*:}
  [ "$major" -ge 24 ] 2>/dev/null
}
if mesa_ok && dpkg -s libvulkan1 >/dev/null 2>&1; then
  log "mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) already installed"
else
  if [ "${VERSION_CODENAME:-}" = bookworm ]; then
    # Debian 12's Mesa 22 lacks what Dawn needs: take Mesa 25 from bookworm-backports,
    # from the same mirror as the machine's existing Debian source.
    # The URI of the existing Debian source: a deb822 `URIs:` field or a one-line `deb URI suite` entry.
    mirror=$( (grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
               grep -hE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}') \
             | grep -E '/debian/?$' | head -n1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null; then
      log "adding bookworm-backports from $mirror"
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" | $SUDO tee /etc/apt/sources.list.d/kvant-backports.sources >/dev/null
      apt_updated=0
    fi
    apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports libvulkan1 mesa-vulkan-drivers >/dev/null
  else
    apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libvulkan1 mesa-vulkan-drivers >/dev/null
  fi
  log "installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
fi

# --- Tools the build and the kit use (cmake for cmake-js, the CUDA addons; xz for the kit archive) -
if ! command -v cmake >/dev/null 2>&1; then
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq cmake >/dev/null
  log "installed $(cmake --version | head -n1)"
fi
if ! command -v xz >/dev/null 2>&1; then
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq xz-utils >/dev/null
  log "installed xz-utils"
fi

# --- Chromium for the browser test ---------------------------------------------------------------
if [ -x /usr/bin/chromium ]; then
  log "chromium already installed"
else
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  log "installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
fi

# --- Python packages for the interop tests -------------------------------------------------------
PY=${PYTHON:-python3}
if "$PY" -c 'import safetensors, torch, numpy, transformers, peft, trl, gguf' >/dev/null 2>&1; then
  log "python interop packages already installed"
else
  "$PY" -m pip install -q --retries 0 --timeout 10 safetensors torch numpy transformers peft trl gguf
  log "installed python interop packages"
fi
