#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into DIR/<target>/ from the project's
own fixtures (meta/, tests/fixtures/, small generated images), so that no binary
corpus is committed. Standard library only; with Pillow (the peers' .venv) it adds
JPEG seeds. Usage: python3 fuzz/seeds.py DIR"""

import os
import shutil
import struct
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Seeds above this size slow every execution for little coverage.
MAX_SEED = 128 * 1024


def png(w, h, colour_type, bit_depth, pixel):
    """A valid PNG of w × h; `pixel(x, y)` gives the bytes of one pixel."""
    rows = b"".join(b"\0" + b"".join(pixel(x, y) for x in range(w)) for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if colour_type == 3:
        out += chunk(b"PLTE", bytes(range(0, 256, 32)) * 3)
    return out + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def bmp(w, h):
    """A 24-bit bottom-up BMP of w × h."""
    stride = (3 * w + 3) & ~3
    pixels = b"".join(
        bytes(c for x in range(w) for c in ((x * 40) & 255, (y * 60) & 255, 128)).ljust(stride, b"\0")
        for y in range(h)
    )
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def images():
    yield "rgb8.png", png(7, 5, 2, 8, lambda x, y: bytes([x * 30, y * 50, 99]))
    yield "grey8.png", png(6, 4, 0, 8, lambda x, y: bytes([x * 40 + y]))
    yield "rgba8.png", png(4, 4, 6, 8, lambda x, y: bytes([x * 60, y * 60, 7, 128]))
    yield "grey_alpha8.png", png(3, 3, 4, 8, lambda x, y: bytes([x * 80, 200]))
    yield "rgb16.png", png(3, 2, 2, 16, lambda x, y: struct.pack(">HHH", x * 9000, y * 20000, 65535))
    yield "palette8.png", png(5, 3, 3, 8, lambda x, y: bytes([(x + y) % 8]))
    yield "one_pixel.png", png(1, 1, 2, 8, lambda x, y: b"\xff\x00\x7f")
    yield "rgb24.bmp", bmp(5, 3)
    try:
        from PIL import Image
        import io

        for w, h, q in [(8, 8, 75), (17, 9, 30), (16, 16, 95)]:
            im = Image.new("RGB", (w, h))
            im.putdata([((x * 15) % 256, (y * 28) % 256, 60) for y in range(h) for x in range(w)])
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=q, progressive=(q == 30))
            yield f"q{q}_{w}x{h}.jpg", buf.getvalue()
        buf = io.BytesIO()
        Image.new("L", (9, 7), 77).save(buf, "JPEG")
        yield "grey.jpg", buf.getvalue()
    except ImportError:
        print("fuzz/seeds.py: no Pillow: no JPEG seeds (the peers' .venv has it)", file=sys.stderr)


def files(folder, suffixes):
    for name in sorted(os.listdir(os.path.join(ROOT, folder))):
        path = os.path.join(ROOT, folder, name)
        if name.endswith(suffixes) and os.path.getsize(path) <= MAX_SEED:
            yield path


def main():
    out = sys.argv[1]
    targets = {
        "meta_yaml": list(files("meta", ".yaml")) + list(files("tests/fixtures", ".yaml")),
        "onnx_lean": list(files("tests/fixtures", ".onnx")),
    }
    targets["onnx_model"] = targets["onnx_lean"]
    for target, paths in targets.items():
        os.makedirs(os.path.join(out, target), exist_ok=True)
        for p in paths:
            shutil.copy(p, os.path.join(out, target, os.path.basename(p)))
    os.makedirs(os.path.join(out, "image_preprocess"), exist_ok=True)
    for name, data in images():
        with open(os.path.join(out, "image_preprocess", name), "wb") as f:
            f.write(data)
    for target in sorted(os.listdir(out)):
        print(f"{target}: {len(os.listdir(os.path.join(out, target)))} seed(s)")


if __name__ == "__main__":
    main()
