#!/usr/bin/python3
"""photo_conditions.py -- photographic and page-layout pictures of MNIST *test*
digits: ruled and squared paper, a sheet on a desk, a scanner's black margin,
shadows, neighbouring characters cut by the crop, boxes, circles, underlines,
highlighter, grey form fields, faint pencil, blur, JPEG damage, huge and tiny pictures, and
every PNG colour type.

Every condition redraws the same N test digits (paired with the baseline,
the digit plainly drawn), each in its own folder OUT/<condition>/, and
OUT/labels.csv lists them all (file,label,source,meta) for
`digits-trainer predict --labels`. tests/bench/photo_conditions runs it.

    python3 tests/bench/photo_conditions.py --out DIR [--data data/mnist]
            [--n 200] [--seed 1] [--only a,b]

Needs Debian's python3-numpy, python3-pil and fonts-dejavu-core.
"""
import argparse
import hashlib
import io
import math
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

MNIST = 'data/mnist'   # the default --data
FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf'

# ---------------------------------------------------------------- PNG writer


def _chunk(t, data):
    return struct.pack('>I', len(data)) + t + data + struct.pack('>I', zlib.crc32(t + data) & 0xffffffff)


def write_png(path, arr, ctype, depth=8, palette=None, trns=None, interlace=False):
    """Any colour type / depth we need, optionally Adam7-interlaced (filter 0)."""
    arr = np.asarray(arr)
    h, w = arr.shape[:2]
    chans = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    arr = arr.reshape(h, w, chans)

    def rows(sub):
        hh, ww = sub.shape[:2]
        if depth == 16:
            b = sub.astype('>u2').reshape(hh, ww * chans).view(np.uint8)
        elif depth == 8:
            b = sub.astype(np.uint8).reshape(hh, ww * chans)
        elif depth == 1:
            b = np.packbits(sub.reshape(hh, ww).astype(bool), axis=1)
        else:
            raise ValueError(depth)
        return np.hstack([np.zeros((hh, 1), np.uint8), b]).tobytes()

    if interlace:
        raw = b''
        for xs, ys, xst, yst in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                                 (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
            sub = arr[ys::yst, xs::xst]
            if sub.shape[0] and sub.shape[1]:
                raw += rows(sub)
    else:
        raw = rows(arr)
    out = b'\x89PNG\r\n\x1a\n'
    out += _chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, ctype, 0, 0, 1 if interlace else 0))
    if palette is not None:
        out += _chunk(b'PLTE', bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        out += _chunk(b'tRNS', bytes(np.asarray(trns, np.uint8).reshape(-1)))
    out += _chunk(b'IDAT', zlib.compress(raw, 6))
    out += _chunk(b'IEND', b'')
    with open(path, 'wb') as f:
        f.write(out)


# ---------------------------------------------------------------- digits


def load_mnist(folder):
    with open(f'{folder}/t10k-images-idx3-ubyte', 'rb') as f:
        imgs = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with open(f'{folder}/t10k-labels-idx1-ubyte', 'rb') as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return imgs, labels


def zhang_suen(m):
    img = m.astype(np.uint8).copy()
    while True:
        changed = False
        for step in (0, 1):
            P = np.pad(img, 1)
            p2, p3, p4 = P[:-2, 1:-1], P[:-2, 2:], P[1:-1, 2:]
            p5, p6, p7 = P[2:, 2:], P[2:, 1:-1], P[2:, :-2]
            p8, p9 = P[1:-1, :-2], P[:-2, :-2]
            seq = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            B = p2 + p3 + p4 + p5 + p6 + p7 + p8 + p9
            A = sum(((seq[k] == 0) & (seq[k + 1] == 1)).astype(np.uint8) for k in range(8))
            if step == 0:
                c = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                c = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            kill = (img == 1) & (B >= 2) & (B <= 6) & (A == 1) & c
            if kill.any():
                img[kill] = 0
                changed = True
        if not changed:
            return img


class Digit:
    def __init__(self, img28, label):
        a = img28.astype(np.float32) / 255.0
        ys, xs = np.nonzero(a > 0.1)
        self.crop = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        self.label = int(label)
        self.raw = img28
        self._edges = None

    def natural(self, h):
        """The MNIST shape enlarged to ink height ~h px, crisp anti-aliased edges."""
        bh, bw = self.crop.shape
        s = h / bh
        pc = np.pad(self.crop, 2)
        im = Image.fromarray(pc * 255.0, 'F').resize(
            (max(1, round((bw + 4) * s)), max(1, round((bh + 4) * s))), Image.BICUBIC)
        a = np.clip((np.asarray(im) / 255.0 - 0.3) / 0.35, 0, 1)
        return tight(a)

    def edges(self):
        if self._edges is None:
            bh, bw = self.crop.shape
            up = Image.fromarray(np.pad(self.crop, 1) * 255.0, 'F').resize(((bw + 2) * 8, (bh + 2) * 8),
                                                                            Image.BILINEAR)
            sk = zhang_suen(np.asarray(up) / 255.0 > 0.45)
            ys, xs = np.nonzero(sk)
            on = set(zip(ys.tolist(), xs.tolist()))
            pts = [((x + 0.5) / 8 - 1, (y + 0.5) / 8 - 1) for y, x in on]
            segs = []
            for y, x in on:
                for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
                    if (y + dy, x + dx) in on:
                        segs.append((((x + 0.5) / 8 - 1, (y + 0.5) / 8 - 1),
                                     ((x + dx + 0.5) / 8 - 1, (y + dy + 0.5) / 8 - 1)))
            self._edges = (pts, segs)
        return self._edges

    def pen(self, h, width):
        """The digit's skeleton drawn with a round pen `width` px wide, skeleton height ~h."""
        pts, segs = self.edges()
        bh, bw = self.crop.shape
        s = h / bh
        SS = 4
        m = width / 2 + 3
        W, H = int(bw * s + 2 * m) + 1, int(bh * s + 2 * m) + 1
        im = Image.new('L', (W * SS, H * SS), 0)
        dr = ImageDraw.Draw(im)
        lw = max(1, int(round(width * SS)))
        r = lw / 2
        f = lambda p: ((p[0] * s + m) * SS, (p[1] * s + m) * SS)
        for a, b in segs:
            dr.line([f(a), f(b)], fill=255, width=lw)
        for p in pts:
            x, y = f(p)
            dr.ellipse([x - r, y - r, x + r, y + r], fill=255)
        im = im.resize((W, H), Image.BOX)
        return tight(np.asarray(im, np.float32) / 255.0)


def tight(a, thr=0.004):
    ys, xs = np.nonzero(a > thr)
    if len(ys) == 0:
        return a
    return a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def text_patch(ch, h):
    """A printed letter, ink ~h px high."""
    font = ImageFont.truetype(FONT, int(h * 1.4))
    im = Image.new('L', (int(h * 3), int(h * 3)), 0)
    ImageDraw.Draw(im).text((h // 2, h // 4), ch, fill=255, font=font)
    return tight(np.asarray(im, np.float32) / 255.0)


# ---------------------------------------------------------------- page


def luma(rgb):
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


class Page:
    def __init__(self, H, W, paper=(1.0, 1.0, 1.0)):
        self.p = np.empty((H, W, 3), np.float32)
        self.p[:] = np.asarray(paper, np.float32)

    @property
    def H(self):
        return self.p.shape[0]

    @property
    def W(self):
        return self.p.shape[1]

    def ink(self, cov, x, y, color=(0.1, 0.1, 0.12), opacity=1.0):
        """Subtractive ink: the patch cov (0..1) with its top-left at (x, y)."""
        x, y = int(round(x)), int(round(y))
        h, w = cov.shape
        x0, y0, x1, y1 = max(0, x), max(0, y), min(self.W, x + w), min(self.H, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        a = cov[y0 - y:y1 - y, x0 - x:x1 - x, None] * opacity
        self.p[y0:y1, x0:x1] *= (1 - a) + a * np.asarray(color, np.float32)

    def layer(self, cov, color, opacity=1.0):
        a = cov[..., None] * opacity
        self.p *= (1 - a) + a * np.asarray(color, np.float32)

    def illuminate(self, f):
        self.p *= f[..., None]

    def out(self, rng, noise=0.0, grey=False):
        p = luma(self.p) if grey else self.p
        if noise:
            p = p + rng.normal(0, noise / 255.0, p.shape).astype(np.float32)
        return np.clip(np.round(p * 255), 0, 255).astype(np.uint8)


def draw_layer(H, W, fn, SS=4):
    im = Image.new('L', (W * SS, H * SS), 0)
    fn(ImageDraw.Draw(im), SS)
    return np.asarray(im.resize((W, H), Image.BOX), np.float32) / 255.0


def centre_xy(page, cov, cx, cy):
    return cx - cov.shape[1] / 2, cy - cov.shape[0] / 2


DARK = (0.08, 0.08, 0.1)


def dark_ink(rng):
    k = rng.uniform(0.05, 0.18)
    return (k, k, k * rng.uniform(1.0, 1.6))


def plain(rng, d, h=None, W=None, H=None, ink=None, pen=None):
    W = W or int(rng.integers(280, 361))
    H = H or int(rng.integers(280, 361))
    h = h or rng.uniform(0.4, 0.6) * min(W, H)
    pg = Page(H, W, (rng.uniform(0.95, 1.0),) * 3)
    cov = d.natural(h) if pen is None else d.pen(h, pen)
    cx = W / 2 + rng.uniform(-0.1, 0.1) * W
    cy = H / 2 + rng.uniform(-0.1, 0.1) * H
    x, y = centre_xy(pg, cov, cx, cy)
    pg.ink(cov, x, y, ink or dark_ink(rng))
    return pg, cov, (x, y)


def gauss_blur(a, sigma):
    """Separable Gaussian, edges replicated."""
    if sigma <= 0:
        return a
    r = int(math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(np.float32)
    for ax in (0, 1):
        pad = [(0, 0)] * a.ndim
        pad[ax] = (r, r)
        p = np.pad(a, pad, mode='edge')
        n = a.shape[ax]
        out = np.zeros_like(a)
        for i, w in enumerate(k):
            out += w * np.take(p, np.arange(i, i + n), axis=ax)
        a = out
    return a


def jpeg(u8, q):
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, 'JPEG', quality=int(q))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(Image.fromarray(u8).mode))


# ---------------------------------------------------------------- conditions
# Each returns (spec, meta): spec = (ctype, array[, extra kwargs for write_png]).


def c_as_mnist(rng, d, ctx):
    return (0, d.raw), ''


def c_baseline(rng, d, ctx):
    pg, _, _ = plain(rng, d)
    return (0, pg.out(rng, 1.5, grey=True)), ''


def c_baseline_pen(rng, d, ctx):
    h = rng.uniform(120, 180)
    pg, _, _ = plain(rng, d, h=h, pen=h * rng.uniform(1 / 14, 1 / 9))
    return (0, pg.out(rng, 1.5, grey=True)), ''


def _ruled(rng, d, margin):
    W, H = 320, 320
    L = rng.uniform(36, 56)
    pg = Page(H, W, (rng.uniform(0.95, 1.0), rng.uniform(0.95, 1.0), rng.uniform(0.93, 1.0)))
    grey = rng.random() < 0.3
    col = (0.66, 0.66, 0.66) if grey else (rng.uniform(0.55, 0.7), rng.uniform(0.72, 0.82), rng.uniform(0.9, 0.97))
    lw = rng.uniform(1.0, 2.2)
    off = rng.uniform(0, L)
    lines = [off + k * L for k in range(int(H / L) + 2)]
    cov = draw_layer(H, W, lambda dr, S: [dr.line([(0, y * S), (W * S, y * S)], fill=255, width=int(lw * S))
                                          for y in lines])
    pg.layer(cov, col)
    meta = f'lines={"grey" if grey else "blue"};spacing={L:.0f}'
    xm = None
    if margin:
        xm = rng.uniform(0.1, 0.35) * W
        dbl = rng.random() < 0.3
        mc = (rng.uniform(0.85, 0.95), rng.uniform(0.35, 0.5), rng.uniform(0.4, 0.55))
        mw = rng.uniform(1.2, 2.5)
        xs = [xm] + ([xm + 5] if dbl else [])
        cov = draw_layer(H, W, lambda dr, S: [dr.line([(x * S, 0), (x * S, H * S)], fill=255, width=int(mw * S))
                                              for x in xs])
        pg.layer(cov, mc)
    h = L * rng.uniform(0.8, 1.5)
    dig = d.natural(h)
    # sits on a ruled line near the middle
    base = min(lines, key=lambda y: abs(y - (H / 2 + h / 2)))
    y = base - dig.shape[0] + rng.uniform(-3, 4)
    if margin:
        x = xm + rng.uniform(8, 60)
    else:
        x = W / 2 - dig.shape[1] / 2 + rng.uniform(-0.15, 0.15) * W
    ink = dark_ink(rng) if rng.random() < 0.5 else (0.12, 0.15, 0.4)
    pg.ink(dig, x, y, ink)
    return (2, pg.out(rng, 2.0)), meta


def c_ruled(rng, d, ctx):
    return _ruled(rng, d, False)


def c_ruled_margin(rng, d, ctx):
    return _ruled(rng, d, True)


def c_graph(rng, d, ctx):
    W, H = 320, 320
    sp = rng.uniform(16, 32)
    pg = Page(H, W, (rng.uniform(0.95, 1.0),) * 3)
    col = (rng.uniform(0.6, 0.8), rng.uniform(0.7, 0.85), rng.uniform(0.8, 0.95)) if rng.random() < 0.6 else (0.72,) * 3
    ox, oy = rng.uniform(0, sp, 2)

    def grid(dr, S):
        k = 0
        while ox + k * sp < W:
            dr.line([((ox + k * sp) * S, 0), ((ox + k * sp) * S, H * S)], fill=255, width=S)
            k += 1
        k = 0
        while oy + k * sp < H:
            dr.line([(0, (oy + k * sp) * S), (W * S, (oy + k * sp) * S)], fill=255, width=S)
            k += 1
    pg.layer(draw_layer(H, W, grid), col)
    dig = d.natural(rng.uniform(110, 180))
    x, y = centre_xy(pg, dig, W / 2 + rng.uniform(-30, 30), H / 2 + rng.uniform(-30, 30))
    pg.ink(dig, x, y, dark_ink(rng))
    return (2, pg.out(rng, 2.0)), f'spacing={sp:.0f}'


def _light_field(H, W, rng, grad, vign):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    th = rng.uniform(0, 2 * math.pi)
    proj = (xx * math.cos(th) + yy * math.sin(th))
    proj = (proj - proj.min()) / (proj.max() - proj.min())
    f = 1 - grad * proj
    r2 = ((xx - W / 2) ** 2 + (yy - H / 2) ** 2) / ((W / 2) ** 2 + (H / 2) ** 2)
    return f * (1 - vign * r2)


def c_shadow(rng, d, ctx):
    pg, dig, (x, y) = plain(rng, d)
    H, W = pg.H, pg.W
    cx = x + dig.shape[1] / 2 + rng.uniform(-0.5, 0.5) * dig.shape[1]
    cy = y + dig.shape[0] / 2 + rng.uniform(-0.5, 0.5) * dig.shape[0]
    th = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    dist = (xx - cx) * math.cos(th) + (yy - cy) * math.sin(th)
    soft = rng.uniform(2, 20)
    depth = rng.uniform(0.4, 0.65)
    f = 1 - depth / (1 + np.exp(-dist / soft))
    pg.illuminate(f)
    return (2, pg.out(rng, 3.0)), f'depth={depth:.2f};soft={soft:.0f}'


def c_gradient(rng, d, ctx):
    pg, _, _ = plain(rng, d)
    g, v = rng.uniform(0.35, 0.6), rng.uniform(0.2, 0.5)
    pg.illuminate(_light_field(pg.H, pg.W, rng, g, v))
    return (2, pg.out(rng, 3.0)), f'grad={g:.2f};vign={v:.2f}'


def _pale_ink(rng, d, paper_lo, paper_hi, c_lo, c_hi, noise):
    """Grey paper and ink c_lo..c_hi grey levels darker, on a 280-360 px page."""
    W, H = int(rng.integers(280, 361)), int(rng.integers(280, 361))
    paper = rng.uniform(paper_lo, paper_hi)
    c = rng.uniform(c_lo, c_hi) / 255.0
    pg = Page(H, W, (paper,) * 3)
    dig = d.natural(rng.uniform(0.4, 0.6) * min(W, H))
    x, y = centre_xy(pg, dig, W / 2 + rng.uniform(-30, 30), H / 2 + rng.uniform(-30, 30))
    pg.ink(dig, x, y, ((paper - c) / paper,) * 3)
    return (0, pg.out(rng, noise, grey=True)), f'contrast={c * 255:.0f};paper={paper * 255:.0f}'


def c_low_contrast(rng, d, ctx):
    return _pale_ink(rng, d, 0.55, 0.78, 30, 75, 3.0)


def c_jpeg_noise(rng, d, ctx):
    pg, _, _ = plain(rng, d)
    n, q = rng.uniform(5, 12), int(rng.integers(10, 41))
    return (2, jpeg(pg.out(rng, n), q)), f'noise={n:.0f};q={q}'


def c_blur(rng, d, ctx):
    pg, _, _ = plain(rng, d, h=rng.uniform(100, 160))
    s = rng.uniform(1.5, 5)
    pg.p = gauss_blur(pg.p, s)
    return (0, pg.out(rng, 1.5, grey=True)), f'sigma={s:.1f}'


def c_fragment(rng, d, ctx):
    h = rng.uniform(110, 160)
    dig = d.natural(h)
    if rng.random() < 0.5:
        o = ctx['other'](rng)
        frag, kind = o.natural(h * rng.uniform(0.85, 1.15)), f'digit{o.label}'
    else:
        ch = 'abdehkmnrsxyAEHKMNR'[int(rng.integers(0, 19))]
        frag, kind = text_patch(ch, h * rng.uniform(0.6, 1.0)), f'letter{ch}'
    side = ['left', 'right', 'top', 'bottom'][int(rng.integers(0, 4))]
    gap = rng.uniform(6, 30)
    vis = rng.uniform(0.2, 0.6)
    m = rng.uniform(20, 50)  # margin on the other sides
    dh, dw = dig.shape
    fh, fw = frag.shape
    if side in ('left', 'right'):
        W = int(m + dw + gap + vis * fw)
        H = int(max(dh, fh) + 2 * m)
        pg = Page(H, W, (rng.uniform(0.95, 1.0),) * 3)
        ink = dark_ink(rng)
        yd = (H - dh) / 2 + rng.uniform(-10, 10)
        yf = (H - fh) / 2 + rng.uniform(-15, 15)
        if side == 'right':
            pg.ink(dig, m, yd, ink)
            pg.ink(frag, m + dw + gap, yf, ink)
        else:
            pg.ink(frag, -(1 - vis) * fw, yf, ink)
            pg.ink(dig, vis * fw + gap, yd, ink)
    else:
        H = int(m + dh + gap + vis * fh)
        W = int(max(dw, fw) + 2 * m)
        pg = Page(H, W, (rng.uniform(0.95, 1.0),) * 3)
        ink = dark_ink(rng)
        xd = (W - dw) / 2 + rng.uniform(-10, 10)
        xf = (W - fw) / 2 + rng.uniform(-20, 20)
        if side == 'bottom':
            pg.ink(dig, xd, m, ink)
            pg.ink(frag, xf, m + dh + gap, ink)
        else:
            pg.ink(frag, xf, -(1 - vis) * fh, ink)
            pg.ink(dig, xd, vis * fh + gap, ink)
    return (0, pg.out(rng, 1.5, grey=True)), f'side={side};frag={kind};vis={vis:.2f};gap={gap:.0f}'


def c_boxed(rng, d, ctx):
    dig = d.natural(rng.uniform(100, 150))
    dh, dw = dig.shape
    ml, mr, mt, mb = rng.uniform(8, 30, 4)
    lw = rng.uniform(1.5, 4)
    out = rng.uniform(3, 20)
    bw, bh = dw + ml + mr, dh + mt + mb
    W, H = int(bw + 2 * out), int(bh + 2 * out)
    pg = Page(H, W, (rng.uniform(0.95, 1.0),) * 3)
    box = draw_layer(H, W, lambda dr, S: dr.rectangle([out * S, out * S, (out + bw) * S, (out + bh) * S],
                                                      outline=255, width=int(lw * S)))
    pg.layer(box, (0.15, 0.15, 0.15))
    pg.ink(dig, out + ml, out + mt, dark_ink(rng))
    return (0, pg.out(rng, 1.5, grey=True)), f'lw={lw:.1f};out={out:.0f}'


def c_circled(rng, d, ctx):
    pg, dig, (x, y) = plain(rng, d, h=rng.uniform(100, 150))
    dh, dw = dig.shape
    cx, cy = x + dw / 2, y + dh / 2
    rx, ry = max(dw, dh * 0.7) / 2 * rng.uniform(1.15, 1.5), dh / 2 * rng.uniform(1.15, 1.4)
    lw = rng.uniform(4, 10)
    start = rng.uniform(0, 360)
    span = rng.uniform(330, 375)
    cov = draw_layer(pg.H, pg.W, lambda dr, S: dr.arc([(cx - rx) * S, (cy - ry) * S, (cx + rx) * S, (cy + ry) * S],
                                                      start, start + span, fill=255, width=int(lw * S)))
    pg.layer(cov, dark_ink(rng))
    return (0, pg.out(rng, 1.5, grey=True)), f'lw={lw:.0f}'


def c_underlined(rng, d, ctx):
    pg, dig, (x, y) = plain(rng, d, h=rng.uniform(100, 150))
    dh, dw = dig.shape
    gap = rng.uniform(4, 16)
    L = max(dw, dh * 0.5) * rng.uniform(1.0, 1.8)
    cx = x + dw / 2 + rng.uniform(-10, 10)
    yb = y + dh + gap
    t = math.radians(rng.uniform(-5, 5))
    lw = rng.uniform(4, 10)
    p0 = (cx - L / 2 * math.cos(t), yb - L / 2 * math.sin(t))
    p1 = (cx + L / 2 * math.cos(t), yb + L / 2 * math.sin(t))
    cov = draw_layer(pg.H, pg.W, lambda dr, S: dr.line([(p0[0] * S, p0[1] * S), (p1[0] * S, p1[1] * S)],
                                                       fill=255, width=int(lw * S)))
    pg.layer(cov, dark_ink(rng))
    return (0, pg.out(rng, 1.5, grey=True)), f'gap={gap:.0f};len={L / dw:.1f}'


def c_huge(rng, d, ctx):
    W, H = 3000, 4000
    pg = Page(H, W, (rng.uniform(0.85, 0.97),) * 3)
    pg.illuminate(_light_field(H, W, rng, rng.uniform(0.05, 0.2), 0.1))
    h = rng.uniform(100, 250)
    dig = d.natural(h)
    x, y = rng.uniform(300, W - 300 - dig.shape[1]), rng.uniform(300, H - 300 - dig.shape[0])
    pg.ink(dig, x, y, dark_ink(rng))
    g = luma(pg.p)
    g = g + rng.normal(0, 1.2 / 255, g.shape).astype(np.float32)
    return (0, np.clip(np.round(g * 255), 0, 255).astype(np.uint8)), f'h={h:.0f}'


def _tiny(rng, d, side):
    S = side * 10
    dig = d.natural(rng.uniform(0.78, 0.92) * S)
    pg = Page(S, S, (rng.uniform(0.95, 1.0),) * 3)
    x, y = centre_xy(pg, dig, S / 2 + rng.uniform(-0.05, 0.05) * S, S / 2 + rng.uniform(-0.05, 0.05) * S)
    pg.ink(dig, x, y, dark_ink(rng))
    g = Image.fromarray(luma(pg.p) * 255.0, 'F').resize((side, side), Image.BOX)
    return (0, np.clip(np.round(np.asarray(g)), 0, 255).astype(np.uint8)), ''


def c_tiny12(rng, d, ctx):
    return _tiny(rng, d, 12)


def c_small20(rng, d, ctx):
    return _tiny(rng, d, 20)


def c_ballpoint(rng, d, ctx):
    h = rng.uniform(120, 200)
    pale = rng.uniform(0, 1)
    ink = (0.15 + 0.35 * pale, 0.22 + 0.33 * pale, rng.uniform(0.6, 0.85) + 0.1 * pale)
    pg, _, _ = plain(rng, d, h=h, pen=h * rng.uniform(1 / 28, 1 / 14), ink=ink)
    return (2, pg.out(rng, 2.0)), f'ink={",".join("%d" % (c * 255) for c in ink).replace(",", "/")}'


HIGHLIGHTERS = {'yellow': (1.0, 0.95, 0.25), 'green': (0.5, 0.95, 0.45), 'pink': (1.0, 0.5, 0.8),
                'orange': (1.0, 0.68, 0.25)}


def c_highlighter_ink(rng, d, ctx):
    h = rng.uniform(120, 180)
    name = list(HIGHLIGHTERS)[int(rng.integers(0, 4))]
    pg, _, _ = plain(rng, d, h=h, pen=h * rng.uniform(1 / 7, 1 / 5), ink=HIGHLIGHTERS[name])
    return (2, pg.out(rng, 2.0)), f'colour={name}'


def c_highlighted(rng, d, ctx):
    pg, dig, (x, y) = plain(rng, d, h=rng.uniform(100, 150))
    dh, dw = dig.shape
    bh = dh * rng.uniform(0.4, 1.1)
    yc = y + dh / 2 + rng.uniform(-0.25, 0.25) * dh
    x0 = rng.uniform(-20, x)
    x1 = rng.uniform(x + dw, pg.W + 20)
    cov = draw_layer(pg.H, pg.W, lambda dr, S: dr.rectangle([x0 * S, (yc - bh / 2) * S, x1 * S, (yc + bh / 2) * S],
                                                            fill=255))
    cov = gauss_blur(cov, 1.5)
    name = list(HIGHLIGHTERS)[int(rng.integers(0, 4))]
    pg.layer(cov, HIGHLIGHTERS[name], opacity=rng.uniform(0.7, 1.0))
    return (2, pg.out(rng, 2.0)), f'colour={name}'


def c_shaded_field(rng, d, ctx):
    """A form's grey answer field round the digit (printed border or not,
    margins that may cut into the digit) or a shaded label across the page."""
    pg, dig, (x, y) = plain(rng, d, h=rng.uniform(100, 150))
    dh, dw = dig.shape
    kind = ['field', 'bordered', 'label'][int(rng.integers(0, 3))]
    if kind == 'label':
        x0, x1 = -5, pg.W + 5
        y0 = y - rng.uniform(-0.1, 0.3) * dh
        y1 = y + dh + rng.uniform(-0.1, 0.3) * dh
    else:
        x0, x1 = x - rng.uniform(-0.1, 0.5) * dw - 4, x + dw + rng.uniform(-0.1, 0.5) * dw + 4
        y0, y1 = y - rng.uniform(-0.1, 0.3) * dh, y + dh + rng.uniform(-0.1, 0.3) * dh
    cov = draw_layer(pg.H, pg.W, lambda dr, S: dr.rectangle([x0 * S, y0 * S, x1 * S, y1 * S], fill=255))
    grey = rng.uniform(0.55, 0.85)
    pg.layer(cov, (grey, grey, grey * rng.uniform(0.95, 1.05)))
    if kind == 'bordered':
        lw = rng.uniform(1.0, 3.0)
        edge = draw_layer(pg.H, pg.W, lambda dr, S: dr.rectangle([x0 * S, y0 * S, x1 * S, y1 * S],
                                                                 outline=255, width=int(lw * S)))
        pg.layer(edge, (0.2, 0.2, 0.2))
    return (2, pg.out(rng, 2.0)), f'kind={kind};grey={grey:.2f}'


def _rot(rng, d, lo, hi):
    h = rng.uniform(100, 150)
    dig = d.natural(h)
    ang = rng.uniform(lo, hi) * (1 if rng.random() < 0.5 else -1)
    im = Image.fromarray(np.pad(dig, 4) * 255.0, 'F').rotate(ang, Image.BICUBIC, expand=True)
    dig = tight(np.clip(np.asarray(im) / 255.0, 0, 1))
    W, H = 320, 320
    pg = Page(H, W, (rng.uniform(0.95, 1.0),) * 3)
    x, y = centre_xy(pg, dig, W / 2 + rng.uniform(-30, 30), H / 2 + rng.uniform(-30, 30))
    pg.ink(dig, x, y, dark_ink(rng))
    return (0, pg.out(rng, 1.5, grey=True)), f'angle={ang:.0f}'


def c_rot10_20(rng, d, ctx):
    return _rot(rng, d, 10, 20)


def c_rot20_30(rng, d, ctx):
    return _rot(rng, d, 20, 30)


def c_hairline(rng, d, ctx):
    h = rng.uniform(120, 260)
    w = rng.uniform(1.0, 1.6)
    pg, _, _ = plain(rng, d, h=h, pen=w, W=400, H=400)
    return (0, pg.out(rng, 1.5, grey=True)), f'width={w:.1f};h={h:.0f}'


def c_very_thick(rng, d, ctx):
    h = rng.uniform(120, 180)
    k = rng.uniform(1 / 5, 1 / 3.5)
    pg, _, _ = plain(rng, d, h=h, pen=h * k)
    return (0, pg.out(rng, 1.5, grey=True)), f'width_frac={k:.2f}'


def c_png_grey16(rng, d, ctx):
    pg, _, _ = plain(rng, d)
    g = luma(pg.p) + rng.normal(0, 1.5 / 255, (pg.H, pg.W)).astype(np.float32)
    return (0, np.clip(np.round(g * 65535), 0, 65535).astype(np.uint16), {'depth': 16}), ''


def c_png_palette(rng, d, ctx):
    ink = (rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.6))
    pg, _, _ = plain(rng, d, ink=ink)
    n = int(rng.choice([2, 4, 16, 64]))
    q = Image.fromarray(pg.out(rng, 0)).quantize(colors=n)
    pal = np.array(q.getpalette()[:3 * len(q.getcolors())], np.uint8)
    idx = np.asarray(q)
    return (3, idx, {'palette': pal[:3 * (idx.max() + 1)]}), f'colors={n}'


def blit(H, W, cov, rng):
    """Coverage cov placed near the middle of an H x W transparent canvas."""
    pg = Page(H, W, (1.0, 1.0, 1.0))
    x, y = W / 2 - cov.shape[1] / 2 + rng.uniform(-30, 30), H / 2 - cov.shape[0] / 2 + rng.uniform(-30, 30)
    pg.ink(cov, x, y, (0.0, 0.0, 0.0))
    return 1.0 - pg.p[..., 0]


def c_png_palette_trns(rng, d, ctx):
    """A canvas export as a palette PNG: transparent background, opaque ink levels."""
    h = rng.uniform(110, 170)
    W, H = int(rng.integers(280, 361)), int(rng.integers(280, 361))
    cov = d.natural(h)
    a = blit(H, W, cov, rng)
    lv = np.round(a * 15).astype(np.uint8)  # 16 alpha levels of one black
    pal = np.zeros((16, 3), np.uint8)
    trns = (np.arange(16) * 17).astype(np.uint8)
    return (3, lv, {'palette': pal, 'trns': trns}), ''


def c_png_grey_alpha(rng, d, ctx):
    pg_h = rng.uniform(110, 170)
    W, H = int(rng.integers(280, 361)), int(rng.integers(280, 361))
    cov = d.natural(pg_h)
    a = blit(H, W, cov, rng)
    bgval = 255 if rng.random() < 0.5 else 0
    g = np.where(a > 0, int(rng.integers(0, 50)), bgval).astype(np.uint8)
    return (4, np.stack([g, np.round(a * 255).astype(np.uint8)], -1)), f'transparent_grey={bgval}'


def c_png_rgba_semi(rng, d, ctx):
    h = rng.uniform(110, 170)
    W, H = int(rng.integers(280, 361)), int(rng.integers(280, 361))
    cov = d.pen(h, h * rng.uniform(1 / 12, 1 / 7))
    a = blit(H, W, cov, rng)
    op = rng.uniform(0.3, 0.7)
    col = np.array([rng.integers(0, 60), rng.integers(0, 60), rng.integers(0, 160)], np.uint8)
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., :3] = col
    rgba[..., 3] = np.round(a * op * 255).astype(np.uint8)
    return (6, rgba), f'opacity={op:.2f}'


def c_png_interlaced(rng, d, ctx):
    pg, _, _ = plain(rng, d)
    k = int(rng.integers(0, 3))
    if k == 0:
        return (0, pg.out(rng, 1.5, grey=True), {'interlace': True}), 'ctype=0'
    if k == 1:
        return (2, pg.out(rng, 1.5), {'interlace': True}), 'ctype=2'
    rgb = pg.out(rng, 1.5)
    return (6, np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), {'interlace': True}), 'ctype=6'


def c_png_1bit(rng, d, ctx):
    pg, _, _ = plain(rng, d)
    g = luma(pg.p)
    return (0, (g > 0.5).astype(np.uint8), {'depth': 1}), ''


def c_page_on_desk(rng, d, ctx):
    W, H = 400, 300
    if rng.random() < 0.5:
        W, H = H, W
    fx, fy = rng.uniform(0.55, 0.85, 2)
    pw, ph = fx * W, fy * H
    px, py = rng.uniform(0, W - pw), rng.uniform(0, H - ph)
    ang = rng.uniform(-6, 6)
    desk = np.array([rng.uniform(0.15, 0.4), rng.uniform(0.1, 0.3), rng.uniform(0.05, 0.2)], np.float32)
    pg = Page(H, W, desk)
    # wood-ish texture
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    tex = 1 + 0.15 * np.sin(yy / rng.uniform(3, 9) + 2 * np.sin(xx / 40))
    pg.illuminate(tex)
    c = (px + pw / 2, py + ph / 2)
    corners = [(-pw / 2, -ph / 2), (pw / 2, -ph / 2), (pw / 2, ph / 2), (-pw / 2, ph / 2)]
    t = math.radians(ang)
    poly = [(c[0] + a * math.cos(t) - b * math.sin(t), c[1] + a * math.sin(t) + b * math.cos(t)) for a, b in corners]
    mask = draw_layer(H, W, lambda dr, S: dr.polygon([(a * S, b * S) for a, b in poly], fill=255))
    paper = rng.uniform(0.85, 0.97)
    pg.p = pg.p * (1 - mask[..., None]) + paper * mask[..., None]
    dig = d.natural(rng.uniform(0.35, 0.55) * min(pw, ph))
    x, y = centre_xy(pg, dig, c[0] + rng.uniform(-0.1, 0.1) * pw, c[1] + rng.uniform(-0.1, 0.1) * ph)
    pg.ink(dig, x, y, dark_ink(rng))
    pg.illuminate(_light_field(H, W, rng, rng.uniform(0.05, 0.25), 0.15))
    return (2, pg.out(rng, 3.0)), f'paper_frac={fx * fy:.2f}'


def c_faint(rng, d, ctx):
    """Like low-contrast, fainter: 10-40 grey levels between pencil and paper."""
    return _pale_ink(rng, d, 0.55, 0.9, 10, 40, 2.0)


def c_page_edge(rng, d, ctx):
    """Photo of a page whose edge shows on one side: desk in a band of 10-40%."""
    W, H = 400, 400
    side = ['left', 'right', 'top', 'bottom'][int(rng.integers(0, 4))]
    frac = rng.uniform(0.1, 0.4)
    desk = np.array([rng.uniform(0.15, 0.4), rng.uniform(0.1, 0.3), rng.uniform(0.05, 0.2)], np.float32)
    paper = rng.uniform(0.85, 0.97)
    pg = Page(H, W, (paper,) * 3)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    t = math.tan(math.radians(rng.uniform(-5, 5)))
    e = frac * W
    m = {'left': xx < e + t * (yy - H / 2), 'right': xx > W - e + t * (yy - H / 2),
         'top': yy < e + t * (xx - W / 2), 'bottom': yy > H - e + t * (xx - W / 2)}[side]
    pg.p[m] = desk
    dig = d.natural(rng.uniform(120, 170))
    cx = {'left': (e + W) / 2, 'right': (W - e) / 2}.get(side, W / 2)
    cy = {'top': (e + H) / 2, 'bottom': (H - e) / 2}.get(side, H / 2)
    x, y = centre_xy(pg, dig, cx + rng.uniform(-20, 20), cy + rng.uniform(-20, 20))
    pg.ink(dig, x, y, dark_ink(rng))
    pg.illuminate(_light_field(H, W, rng, rng.uniform(0.05, 0.2), 0.1))
    return (2, pg.out(rng, 3.0)), f'side={side};frac={frac:.2f}'


def c_scan_black_edge(rng, d, ctx):
    """A scan whose page does not reach one or two sides: scanner-black strips of 3-10%."""
    pg, _, _ = plain(rng, d, W=320, H=320)
    sides = ['left', 'right', 'top', 'bottom']
    k = int(rng.integers(1, 3))
    chosen = [sides[i] for i in rng.choice(4, k, replace=False)]
    for s in chosen:
        e = int(rng.uniform(0.03, 0.10) * 320)
        if s == 'left':
            pg.p[:, :e] = 0.06
        elif s == 'right':
            pg.p[:, -e:] = 0.06
        elif s == 'top':
            pg.p[:e] = 0.06
        else:
            pg.p[-e:] = 0.06
    return (0, pg.out(rng, 2.0, grey=True)), f'sides={"+".join(chosen)}'


def c_phone_photo(rng, d, ctx):
    W, H = (640, 480) if rng.random() < 0.5 else (480, 640)
    pg = Page(H, W, (rng.uniform(0.85, 0.95), rng.uniform(0.85, 0.95), rng.uniform(0.8, 0.92)))
    h = rng.uniform(120, 220)
    dig = d.natural(h)
    ang = rng.uniform(-8, 8)
    im = Image.fromarray(np.pad(dig, 4) * 255.0, 'F').rotate(ang, Image.BICUBIC, expand=True)
    dig = tight(np.clip(np.asarray(im) / 255.0, 0, 1))
    x, y = centre_xy(pg, dig, W / 2 + rng.uniform(-0.15, 0.15) * W, H / 2 + rng.uniform(-0.15, 0.15) * H)
    pg.ink(dig, x, y, dark_ink(rng) if rng.random() < 0.5 else (0.15, 0.2, 0.5))
    pg.illuminate(_light_field(H, W, rng, rng.uniform(0.2, 0.45), rng.uniform(0.2, 0.4)))
    pg.p = gauss_blur(pg.p, rng.uniform(0.7, 1.5))
    q = int(rng.integers(40, 81))
    return (2, jpeg(pg.out(rng, rng.uniform(3, 7)), q)), f'q={q}'


CONDITIONS = [
    ('as-mnist', c_as_mnist), ('baseline', c_baseline), ('baseline-pen', c_baseline_pen),
    ('ruled', c_ruled), ('ruled-margin', c_ruled_margin), ('graph', c_graph),
    ('shadow', c_shadow), ('gradient-vignette', c_gradient), ('low-contrast', c_low_contrast),
    ('jpeg-noise', c_jpeg_noise), ('blur', c_blur), ('phone-photo', c_phone_photo),
    ('page-on-desk', c_page_on_desk), ('page-edge', c_page_edge), ('scan-black-edge', c_scan_black_edge),
    ('faint', c_faint),
    ('fragment', c_fragment), ('boxed', c_boxed), ('circled', c_circled), ('underlined', c_underlined),
    ('huge-3000x4000', c_huge), ('tiny-12', c_tiny12), ('small-20', c_small20),
    ('ballpoint', c_ballpoint), ('highlighter-ink', c_highlighter_ink), ('highlighted', c_highlighted),
    ('shaded-field', c_shaded_field),
    ('rot10-20', c_rot10_20), ('rot20-30', c_rot20_30), ('hairline', c_hairline), ('very-thick', c_very_thick),
    ('png-grey16', c_png_grey16), ('png-palette', c_png_palette), ('png-palette-trns', c_png_palette_trns),
    ('png-grey-alpha', c_png_grey_alpha), ('png-rgba-semi', c_png_rgba_semi),
    ('png-interlaced', c_png_interlaced), ('png-1bit', c_png_1bit),
]
FEWER = {'huge-3000x4000': 100}


def seed_for(seed, name, i):
    return int.from_bytes(hashlib.sha256(f'{seed}/{name}/{i}'.encode()).digest()[:8], 'little')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--n', type=int, default=200)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--only', default='')
    ap.add_argument('--data', default=MNIST, help='folder with the t10k IDX files')
    a = ap.parse_args()
    imgs, labels = load_mnist(a.data)
    pick = np.random.default_rng(a.seed).choice(len(labels), a.n, replace=False)
    digits = {}

    def digit(k):
        if k not in digits:
            digits[k] = Digit(imgs[k], labels[k])
        return digits[k]

    only = set(filter(None, a.only.split(',')))
    os.makedirs(a.out, exist_ok=True)
    for name, fn in CONDITIONS:
        if only and name not in only:
            continue
        os.makedirs(os.path.join(a.out, name), exist_ok=True)
        rows = []
        for i in range(min(a.n, FEWER.get(name, a.n))):
            k = int(pick[i])
            d = digit(k)
            rng = np.random.default_rng(seed_for(a.seed, name, i))
            ctx = {'other': lambda r: digit(int(r.integers(0, len(labels))))}
            spec, meta = fn(rng, d, ctx)
            kw = spec[2] if len(spec) > 2 else {}
            rel = f'{name}/{name}-{i:03d}-{d.label}.png'
            write_png(os.path.join(a.out, rel), spec[1], spec[0], **kw)
            rows.append(f'{rel},{d.label},{name},idx={k};{meta}')
        with open(os.path.join(a.out, name, 'rows.csv'), 'w') as f:
            f.write('\n'.join(rows) + '\n')
        print(name, len(rows), file=sys.stderr, flush=True)
    # labels.csv: every condition folder present
    with open(os.path.join(a.out, 'labels.csv'), 'w') as f:
        f.write('file,label,source,meta\n')
        for name, _ in CONDITIONS:
            p = os.path.join(a.out, name, 'rows.csv')
            if os.path.exists(p):
                f.write(open(p).read())


if __name__ == '__main__':
    main()
