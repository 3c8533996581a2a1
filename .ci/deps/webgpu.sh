#!/usr/bin/env bash
# WebGPU without a GPU (toolchain.md §2): Dawn (npm `webgpu`) needs a Vulkan driver that exposes
# core WebGPU; Debian 12's lavapipe (Mesa 22.3) is rejected by Dawn, so lavapipe from Mesa 25
# (bookworm-backports) is unpacked privately into /opt/lvp25 with its own ICD file, leaving the
# system's Mesa untouched. Also installs Debian's Chromium for the browser test (it brings
# SwiftShader, used with --enable-unsafe-webgpu). Idempotent; runs as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
LVP=/opt/lvp25
ICD=$LVP/lvp_icd.json
export DEBIAN_FRONTEND=noninteractive

need_update=1
apt_update() { if [ $need_update = 1 ]; then apt-get update -qq; need_update=0; fi; }

if [ ! -f /etc/apt/sources.list.d/bookworm-backports.sources ]; then
  cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

# The loader plus lavapipe's run-time dependencies (libLLVM-15, xcb, wayland...) from bookworm.
if ! dpkg -s libvulkan1 mesa-vulkan-drivers >/dev/null 2>&1; then
  apt_update
  apt-get install -y -qq --no-install-recommends libvulkan1 mesa-vulkan-drivers >/dev/null
fi

if [ ! -f "$LVP/libvulkan_lvp.so" ]; then
  apt_update
  tmp=$(mktemp -d); chmod 777 "$tmp"
  (cd "$tmp" && apt-get download -qq -t bookworm-backports mesa-vulkan-drivers \
    && dpkg-deb -x mesa-vulkan-drivers_*.deb x)
  mkdir -p "$LVP"
  cp "$tmp/x/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so" "$LVP/"
  rm -rf "$tmp"
fi
printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s/libvulkan_lvp.so","api_version":"1.4.305"}}\n' "$LVP" > "$ICD"

if ! command -v chromium >/dev/null 2>&1; then
  apt_update
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

# Dawn finds lavapipe 25 through this file only (the system ICDs stay as they are).
if [ -f .ci/env ] && ! grep -q "VK_ICD_FILENAMES=$ICD" .ci/env; then
  echo "export VK_ICD_FILENAMES=$ICD" >> .ci/env
fi
echo "webgpu: lavapipe at $ICD; chromium: $(command -v chromium || echo none)"
