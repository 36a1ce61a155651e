#!/usr/bin/env bash
# The web view of `lm stream` in a real headless browser (Debian's chromium): starts
# `lm stream --http` on a paced, looped MJPEG clip (tests/images/astronaut.png shifted, see
# examples/make_mjpeg.rs), waits for poses, loads `/` in headless Chromium, and takes a
# screenshot of the page with the overlay stream (skeleton drawn) and the live stats.
# Then checks the screenshot: the stream's image is there (not the page background) and the
# stats line was filled in by the server-sent events.
#
#   bash tests/browser/web_view.sh [OUT.png] [META]
#
# Needs chromium (apt-get install chromium); exits 2 without it. Not in CI (Chromium's start
# alone takes seconds on a loaded machine); run by hand, look at OUT.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=$(realpath -m "${1:-web_view.png}")
META=${2:-meta/lm_single_pose_v1_quantize.yaml}
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    echo "chromium not found: apt-get install chromium" >&2
    exit 2
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
nice -n 5 cargo build --quiet --bin lm --example make_mjpeg
LM=$CARGO_TARGET_DIR/debug/lm
TMP=$(mktemp -d)
PORT=$((20000 + $$ % 20000))
cleanup() { [ -z "${PID:-}" ] || kill "$PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
"$CARGO_TARGET_DIR/debug/examples/make_mjpeg" "$TMP/clip.mjpg" 320 240 48
"$LM" stream -s "$TMP/clip.mjpg?fps=8&loop" -c "$META" --http "127.0.0.1:$PORT" \
    --stats-every 0 2>"$TMP/stream.log" &
PID=$!
# Wait for the first pose (model load; a debug build is slow).
for _ in $(seq 1 300); do
    if curl -sf "http://127.0.0.1:$PORT/pose" -o "$TMP/pose.json" 2>/dev/null; then break; fi
    kill -0 "$PID" 2>/dev/null || { cat "$TMP/stream.log"; exit 1; }
    sleep 0.2
done
test -s "$TMP/pose.json" || { echo "no pose from lm stream" >&2; cat "$TMP/stream.log"; exit 1; }
t0=$(date +%s.%N)
# --timeout: the MJPEG stream never finishes loading; Chromium stops loading after 6 s and
# takes the screenshot of what the page shows then.
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --hide-scrollbars --window-size=760,560 --timeout=6000 --screenshot="$OUT" \
    "http://127.0.0.1:$PORT/" >"$TMP/chromium.log" 2>&1 || { cat "$TMP/chromium.log"; exit 1; }
t1=$(date +%s.%N)
test -s "$OUT" || { echo "no screenshot" >&2; cat "$TMP/chromium.log"; exit 1; }
echo "screenshot $OUT ($(stat -c %s "$OUT") B) in $(awk "BEGIN {print $t1 - $t0}") s; last pose:"
head -c 300 "$TMP/pose.json"; echo
# The stream's 320x240 image sits below the title: most of it is not the page's #111
# background, and the stats line is not the placeholder (it has text in a lighter colour
# below the image).
# What the page's script made of the server-sent events (the DOM after 6 s).
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --timeout=6000 --dump-dom "http://127.0.0.1:$PORT/" >"$TMP/dom.html" 2>"$TMP/chromium.log" \
    || { cat "$TMP/chromium.log"; exit 1; }
STATS=$(tr '\n' ' ' <"$TMP/dom.html" | sed -n 's/.*<div id="stats">\([^<]*\)<.*/\1/p')
echo "page stats after 6 s: $STATS"
case "$STATS" in
    *"visible joints"*) ;;
    *) echo "the page's stats were not filled in from /events" >&2; exit 1 ;;
esac
# The screenshot: the 320x240 stream image is on the page (most of its area is not the
# page's #111 background) and the skeleton's yellow limbs are drawn on it.
python3 - "$OUT" <<'PY'
import struct, sys, zlib
def read_png(path):
    """8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes), with the standard library."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        start = y * (stride + 1)
        f, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, [[tuple(r[x * bpp:x * bpp + 3]) for x in range(w)] for r in rows]
w, h, px = read_png(sys.argv[1])
bg = px[h - 2][w - 2]
differ = sum(1 for row in px for p in row if max(abs(a - b) for a, b in zip(p, bg)) > 40)
yellow = sum(1 for row in px for p in row if p[0] > 200 and p[1] > 200 and p[2] < 80)
print(f"screenshot {w}x{h}: background {bg}; {differ} px differ from it; {yellow} skeleton-yellow px")
assert differ > 320 * 240 * 0.6, "the stream image is missing"
assert yellow > 30, "no skeleton limbs (yellow) on the stream image"
print("web view OK: the stream image with the skeleton, and live stats")
PY
