#!/usr/bin/env bash
# Creates .venv (repo root) with the Python peers used by the checks.
# Idempotent: re-running only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    else
        echo "python3 venv support missing: run 'sudo apt-get install -y python3-venv'" >&2
        exit 1
    fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.requirements.sha
want=$(sha256sum tests/python/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
    echo "$want" > "$stamp"
fi
