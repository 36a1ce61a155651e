#!/usr/bin/env bash
# Fetch Debian's opencv-doc package (vtest.avi, sample photos) into the training cache.
# The media are never committed. Needs `apt-get update` to have been run once.
set -euo pipefail
CACHE="${LM_TRAIN_CACHE:-$HOME/.cache/lm-training}"
DEST="$CACHE/opencv-doc"
DATA="$DEST/usr/share/doc/opencv-doc/examples/data"
if [ -f "$DATA/vtest.avi" ]; then echo "$DATA"; exit 0; fi
mkdir -p "$DEST"
cd "$DEST"
if ! ls opencv-doc_*.deb >/dev/null 2>&1; then
  apt-get download opencv-doc >&2
fi
dpkg -x opencv-doc_*.deb "$DEST"
test -f "$DATA/vtest.avi"
echo "$DATA"
