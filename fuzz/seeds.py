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


def jpegs():
    """A few small JPEG frames (needs Pillow), or none."""
    try:
        from PIL import Image
        import io
    except ImportError:
        return []
    out = []
    for w, h, q in [(16, 8, 80), (8, 8, 40), (24, 16, 90)]:
        im = Image.new("RGB", (w, h))
        im.putdata([((x * 11) % 256, (y * 23) % 256, 90) for y in range(h) for x in range(w)])
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=q)
        out.append(buf.getvalue())
    return out


def strip_dht(jpeg):
    """The JPEG without its Huffman tables (DHT segments), as webcams send MJPG frames."""
    out, i = bytearray(jpeg[:2]), 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        marker = jpeg[i + 1]
        length = struct.unpack(">H", jpeg[i + 2 : i + 4])[0]
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data and EOI
            out += jpeg[i:]
            break
        if marker != 0xC4:
            out += jpeg[i : i + 2 + length]
        i += 2 + length
    return bytes(out)


def streams():
    """Seeds of the frame targets: (target, name, bytes)."""
    frames = jpegs()
    if frames:
        yield "mjpeg_stream", "three.mjpg", b"".join(frames)
        yield "mjpeg_stream", "no_dht.mjpg", b"".join(strip_dht(f) for f in frames)
        part = b"--lm\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
        yield "mjpeg_stream", "multipart.mjpg", b"".join(part % len(f) + f + b"\r\n" for f in frames)
        yield "mjpeg_stream", "cut.mjpg", frames[0] + frames[1][: len(frames[1]) // 2] + frames[2]
        for i, f in enumerate(frames[:2]):
            w, h = [(16, 8), (8, 8)][i]
            head = bytes([1]) + struct.pack("<HHHH", w, h, 0, 0)
            yield "v4l2_frame", f"mjpg_no_dht_{i}", head + strip_dht(f)
    # YUYV 4x2 (stride 8) and 6x2 with a padded stride of 16.
    yield "v4l2_frame", "yuyv_4x2", bytes([0]) + struct.pack("<HHHH", 4, 2, 8, 0) + bytes(range(16, 32))
    yield "v4l2_frame", "yuyv_6x2_stride16", bytes([0]) + struct.pack("<HHHH", 6, 2, 16, 0) + bytes(range(40, 72))
    for name, header, sizes in [
        ("420.y4m", "YUV4MPEG2 W4 H2 F30:1 Ip A1:1 C420jpeg", (8, 2, 2)),
        ("422_full.y4m", "YUV4MPEG2 W4 H2 F25:1 C422 XCOLORRANGE=FULL", (8, 4, 4)),
        ("444.y4m", "YUV4MPEG2 W3 H3 C444", (9, 9, 9)),
        ("mono.y4m", "YUV4MPEG2 W5 H1 Cmono", (5, 0, 0)),
        ("odd_420.y4m", "YUV4MPEG2 W3 H3 C420", (9, 4, 4)),
    ]:
        frame = b"".join(bytes((16 + 7 * i + j) % 256 for i in range(n)) for j, n in enumerate(sizes))
        yield "y4m_stream", name, (header + "\n").encode() + (b"FRAME\n" + frame) * 2
    for name, request in [
        ("page", b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: text/html\r\n\r\n"),
        ("mjpeg", b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"),
        ("events_lf", b"GET /events?since=3 HTTP/1.0\nAccept: text/event-stream\n\n"),
        ("post", b"POST /pose HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
        ("cut", b"GET /health HTTP/1.1\r\nHost"),
    ]:
        yield "http_request", name, request


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
    targets["onnx_tract"] = targets["onnx_lean"]
    # The GraphDef fixture is larger than MAX_SEED; it is the only one there is.
    targets["tf_graphdef"] = [os.path.join(ROOT, "tests/fixtures/blueoil_tiny_pose.pb")]
    for target, paths in targets.items():
        os.makedirs(os.path.join(out, target), exist_ok=True)
        for p in paths:
            shutil.copy(p, os.path.join(out, target, os.path.basename(p)))
    # gt_readers: the first byte picks the reader (fuzz_targets/gt_readers.rs), 6 = the guess.
    os.makedirs(os.path.join(out, "gt_readers"), exist_ok=True)
    picks = {"coco.json": [0, 6], "coco17_index.json": [1, 6], "mpii.json": [2, 6],
             "bbox.txt": [3], "pose.csv": [4], "pose_no_image.csv": [4],
             "stanford_extra.json": [5, 6]}
    for name, pick in picks.items():
        with open(os.path.join(ROOT, "tests/fixtures/eval", name), "rb") as f:
            text = f.read()
        for k in pick:
            with open(os.path.join(out, "gt_readers", f"{k}_{name}"), "wb") as f:
                f.write(bytes([k]) + text)
    for target, name, data in streams():
        os.makedirs(os.path.join(out, target), exist_ok=True)
        with open(os.path.join(out, target, name), "wb") as f:
            f.write(data)
    os.makedirs(os.path.join(out, "image_preprocess"), exist_ok=True)
    for name, data in images():
        with open(os.path.join(out, "image_preprocess", name), "wb") as f:
            f.write(data)
    for target in sorted(os.listdir(out)):
        print(f"{target}: {len(os.listdir(os.path.join(out, target)))} seed(s)")


if __name__ == "__main__":
    main()
