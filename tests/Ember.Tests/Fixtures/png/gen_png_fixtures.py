#!/usr/bin/python3
"""PNG fixtures for Ember.IO.Png, with the pixels each must decode to.

Run with Debian's python3 (Pillow 9.4, NumPy):  /usr/bin/python3 gen_png_fixtures.py
Writes NAME.png and NAME.npy (float32, (C, H, W), samples / (2^depth - 1)) for every variant, plus NAME.L.npy
(Pillow's convert("L")) and NAME.RGBA.npy (Pillow's convert("RGBA")) where those conversions are checked.

Pillow writes the variants it can (8-bit gray/RGB/RGBA/LA, 16-bit gray, 1-bit, palettes of 1-8 bits, tRNS). The rest
(2- and 4-bit gray, 16-bit RGB/RGBA/LA, Adam7 interlacing, every filter type) come from the small encoder below,
written from the PNG specification; each of its files is decoded by Pillow and must equal the pixels it was made from
(except 16-bit color, which Pillow reduces to 8 bits: there the check is on the high bytes).
"""
import os
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(21)


def pattern(h, w, c, levels):
    """Smooth gradients plus noise: every PNG filter has something to do."""
    y, x = np.mgrid[0:h, 0:w]
    out = np.empty((h, w, c), dtype=np.int64)
    for k in range(c):
        base = (x * (k + 1) * 7 + y * (5 - k) * 3 + (x * y) // (k + 2)) % levels
        noise = rng.integers(0, max(1, levels // 16), size=(h, w))
        out[:, :, k] = (base + noise) % levels
    return out


def save_expected(name, chw, depth):
    arr = np.asarray(chw, dtype=np.float32) / np.float32((1 << depth) - 1)
    np.save(os.path.join(HERE, name + ".npy"), arr.astype(np.float32))


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """One row of samples (flat, in pixel order) at the bit depth."""
    if depth == 8:
        return bytes(int(v) for v in samples)
    if depth == 16:
        return b"".join(struct.pack(">H", int(v)) for v in samples)
    out, acc, bits = bytearray(), 0, 0
    for v in samples:
        acc = (acc << depth) | int(v)
        bits += depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_row(kind, row, prev, bpp):
    out = bytearray(len(row))
    for i in range(len(row)):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][kind]
        out[i] = (row[i] - pred) & 0xFF
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path, hwc, depth, color_type, interlace=0, palette=None, trns=None):
    """Our own encoder: filter type cycles 0-4 row by row (and pass by pass)."""
    h, w, spp = hwc.shape
    bpp = max(1, spp * depth // 8)
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    row_index = 0
    for x0, y0, dx, dy in passes:
        sub = hwc[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        prev = bytes(len(pack_row(sub[0].reshape(-1), depth)))
        for r in sub:
            line = pack_row(r.reshape(-1), depth)
            kind = row_index % 5
            raw += bytes([kind]) + filter_row(kind, line, prev, bpp)
            prev = line
            row_index += 1
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, interlace))
    out += chunk(b"tEXt", b"Comment\x00made by gen_png_fixtures.py")
    if palette is not None:
        out += chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    data = zlib.compress(bytes(raw), 9)
    # Two IDAT chunks: a decoder must join them.
    out += chunk(b"IDAT", data[: len(data) // 2]) + chunk(b"IDAT", data[len(data) // 2:])
    out += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def check_pillow(path, expected_hwc, mode_shift=0):
    got = np.asarray(Image.open(path))
    if got.ndim == 2:
        got = got[:, :, None]
    want = expected_hwc >> mode_shift
    assert got.shape == want.shape, (path, got.shape, want.shape)
    assert np.array_equal(got.astype(np.int64), want), path


def ours(name, hwc, depth, color_type, **kw):
    path = os.path.join(HERE, name + ".png")
    write_png(path, hwc, depth, color_type, **kw)
    return path


def main():
    # --- Pillow-written files ---------------------------------------------------------------------------------------
    g = pattern(23, 37, 1, 256)
    Image.fromarray(g[:, :, 0].astype(np.uint8), "L").save(os.path.join(HERE, "gray8.png"))
    save_expected("gray8", g.transpose(2, 0, 1), 8)

    g16 = pattern(19, 29, 1, 65536)
    Image.fromarray(g16[:, :, 0].astype(np.uint16), "I;16").save(os.path.join(HERE, "gray16.png"))
    check_pillow(os.path.join(HERE, "gray16.png"), g16)
    save_expected("gray16", g16.transpose(2, 0, 1), 16)

    b1 = pattern(17, 21, 1, 2)
    Image.fromarray((b1[:, :, 0] * 255).astype(np.uint8), "L").convert("1").save(os.path.join(HERE, "gray1.png"))
    save_expected("gray1", b1.transpose(2, 0, 1), 1)

    rgb = pattern(31, 27, 3, 256)
    img = Image.fromarray(rgb.astype(np.uint8), "RGB")
    img.save(os.path.join(HERE, "rgb8.png"))
    save_expected("rgb8", rgb.transpose(2, 0, 1), 8)
    np.save(os.path.join(HERE, "rgb8.L.npy"), (np.asarray(img.convert("L"), dtype=np.float32)[None] / np.float32(255)))

    rgba = pattern(20, 33, 4, 256)
    Image.fromarray(rgba.astype(np.uint8), "RGBA").save(os.path.join(HERE, "rgba8.png"))
    save_expected("rgba8", rgba.transpose(2, 0, 1), 8)

    la = pattern(18, 22, 2, 256)
    Image.fromarray(la.astype(np.uint8), "LA").save(os.path.join(HERE, "la8.png"))
    save_expected("la8", la.transpose(2, 0, 1), 8)

    # Palettes: 8-bit and 4-bit, one with transparency.
    for name, colors, bits in (("palette8", 200, 8), ("palette4", 16, 4), ("palette2", 4, 2)):
        idx = pattern(26, 30, 1, colors)[:, :, 0].astype(np.uint8)
        pal = rng.integers(0, 256, size=(colors, 3)).astype(np.uint8)
        p = Image.fromarray(idx, "P")
        p.putpalette(pal.reshape(-1).tolist())
        p.save(os.path.join(HERE, name + ".png"), bits=bits)
        back = Image.open(os.path.join(HERE, name + ".png"))
        rgbp = np.asarray(back.convert("RGB")).astype(np.int64)
        assert np.array_equal(rgbp, pal[idx].astype(np.int64)), name
        save_expected(name, rgbp.transpose(2, 0, 1), 8)
        np.save(os.path.join(HERE, name + ".L.npy"), np.asarray(back.convert("L"), dtype=np.float32)[None] / np.float32(255))

    idx = pattern(24, 28, 1, 64)[:, :, 0].astype(np.uint8)
    pal = rng.integers(0, 256, size=(64, 3)).astype(np.uint8)
    alpha = rng.integers(0, 256, size=40).astype(np.uint8)        # fewer alphas than entries: the rest are opaque
    p = Image.fromarray(idx, "P")
    p.putpalette(pal.reshape(-1).tolist())
    p.info["transparency"] = bytes(alpha)
    p.save(os.path.join(HERE, "palette_trns.png"), transparency=bytes(alpha))
    full_alpha = np.concatenate([alpha, np.full(64 - 40, 255, np.uint8)])
    want = np.concatenate([pal[idx], full_alpha[idx][:, :, None]], axis=2).astype(np.int64)
    assert np.array_equal(np.asarray(Image.open(os.path.join(HERE, "palette_trns.png")).convert("RGBA")).astype(np.int64), want)
    save_expected("palette_trns", want.transpose(2, 0, 1), 8)

    # RGB with a transparent color key (tRNS): as stored it is RGB; as RGBA that color has alpha 0.
    key_img = pattern(16, 16, 3, 256)
    key_img[3:9, 4:12] = (10, 200, 30)
    Image.fromarray(key_img.astype(np.uint8), "RGB").save(os.path.join(HERE, "rgb_key.png"), transparency=(10, 200, 30))
    save_expected("rgb_key", key_img.transpose(2, 0, 1), 8)
    keyed = np.asarray(Image.open(os.path.join(HERE, "rgb_key.png")).convert("RGBA"), dtype=np.float32).transpose(2, 0, 1)
    np.save(os.path.join(HERE, "rgb_key.RGBA.npy"), keyed / np.float32(255))

    # --- Our encoder: every filter type, the depths and interlacing Pillow does not write ----------------------------
    for depth in (2, 4):
        gd = pattern(13, 19, 1, 1 << depth)
        check_pillow(ours(f"gray{depth}", gd, depth, 0), gd if depth == 8 else gd * (255 // ((1 << depth) - 1)))
        save_expected(f"gray{depth}", gd.transpose(2, 0, 1), depth)

    rgb16 = pattern(11, 14, 3, 65536)
    check_pillow(ours("rgb16", rgb16, 16, 2), rgb16, mode_shift=8)
    save_expected("rgb16", rgb16.transpose(2, 0, 1), 16)

    rgba16 = pattern(9, 10, 4, 65536)
    check_pillow(ours("rgba16", rgba16, 16, 6), rgba16, mode_shift=8)
    save_expected("rgba16", rgba16.transpose(2, 0, 1), 16)

    filt = pattern(40, 35, 3, 256)
    check_pillow(ours("rgb8_filters", filt, 8, 2), filt)
    save_expected("rgb8_filters", filt.transpose(2, 0, 1), 8)

    inter = pattern(21, 27, 3, 256)
    check_pillow(ours("rgb8_adam7", inter, 8, 2, interlace=1), inter)
    save_expected("rgb8_adam7", inter.transpose(2, 0, 1), 8)

    tiny = pattern(3, 5, 1, 2)   # Adam7 passes with no pixels
    check_pillow(ours("gray1_adam7", tiny, 1, 0, interlace=1), tiny)   # Pillow reads 1-bit as mode "1" (booleans)
    save_expected("gray1_adam7", tiny.transpose(2, 0, 1), 1)

    one = np.array([[[7, 8, 9, 10]]])
    check_pillow(ours("rgba8_1x1_adam7", one, 8, 6, interlace=1), one)
    save_expected("rgba8_1x1_adam7", one.transpose(2, 0, 1), 8)

    pidx = pattern(12, 17, 1, 16)
    ppal = rng.integers(0, 256, size=(16, 3))
    path = ours("palette4_adam7", pidx, 4, 3, interlace=1, palette=ppal)
    want = ppal[pidx[:, :, 0]]
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")).astype(np.int64), want)
    save_expected("palette4_adam7", want.transpose(2, 0, 1), 8)

    print("wrote", len([f for f in os.listdir(HERE) if f.endswith(".png")]), "PNG fixtures")


if __name__ == "__main__":
    main()
