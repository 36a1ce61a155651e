#!/usr/bin/env bash
# Installs what the cross builds and the emulated tests need, idempotently (Debian/Ubuntu host):
#   rustup targets   armv7-unknown-linux-gnueabihf, aarch64-unknown-linux-gnu
#   apt packages     gcc-arm-linux-gnueabihf, gcc-aarch64-linux-gnu (linkers + sysroots for
#                    `cargo test --target`), qemu-user-static, device-tree-compiler, binutils
#                    for both targets (objdump: GLIBC_ symbol versions)
#   pip packages     ziglang, cargo-zigbuild (old-glibc release links) in a venv:
#                    $LM_CROSS_VENV (default ~/.cache/lm/cross-venv)
# Usage: bash boards/setup-cross.sh            (prints the venv path on its last line)
set -euo pipefail

VENV="${LM_CROSS_VENV:-$HOME/.cache/lm/cross-venv}"
TARGETS=(armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu)
APT_PKGS=(gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu libc6-dev-armhf-cross libc6-dev-arm64-cross
          qemu-user-static device-tree-compiler binutils-arm-linux-gnueabihf
          binutils-aarch64-linux-gnu python3-venv)
PIP_PKGS=(ziglang cargo-zigbuild)

log() { printf '[setup-cross] %s\n' "$*" >&2; }

# --- rustup targets ---------------------------------------------------------------------------
installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
    if ! grep -qx "$t" <<<"$installed"; then
        log "rustup target add $t"
        rustup target add "$t" >&2
    fi
done

# --- apt -------------------------------------------------------------------------------------
missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    # Other users of this machine may run apt/dpkg too: wait for their lock (up to ~10 min).
    apt_retry() {
        local i
        for i in $(seq 1 60); do
            if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=10 "$@" >&2; then
                return 0
            fi
            log "apt-get $1 failed (lock held by another apt/dpkg?), retry $i/60"
            sleep 10
        done
        return 1
    }
    log "apt-get install ${missing[*]}"
    apt_retry update -qq
    apt_retry install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- pip (venv) ------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/cargo-zigbuild" ] || ! "$VENV/bin/python" -m ziglang version >/dev/null 2>&1; then
    log "pip install ${PIP_PKGS[*]} into $VENV"
    mkdir -p "$(dirname "$VENV")"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PIP_PKGS[@]}" >&2
fi
log "ready: $("$VENV/bin/cargo-zigbuild" --version), zig $("$VENV/bin/python" -m ziglang version)"
echo "$VENV"
