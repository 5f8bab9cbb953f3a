// Draws the extension's and each task's 128×128 icon as PNG (no image tools needed).
// Run once after adding a task: node scripts/make-icons.mjs. The PNGs are committed.
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SIZE = 128;

function crc32(buf) {
  let c,
    crc = 0xffffffff;
  for (let n = 0; n < buf.length; n++) {
    c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
function png(pixel) {
  const raw = Buffer.alloc((SIZE * 4 + 1) * SIZE);
  for (let y = 0; y < SIZE; y++) {
    raw[y * (SIZE * 4 + 1)] = 0;
    for (let x = 0; x < SIZE; x++) {
      const [r, g, b, a] = pixel(x + 0.5, y + 0.5);
      raw.set([r, g, b, a], y * (SIZE * 4 + 1) + 1 + x * 4);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(SIZE, 0);
  ihdr.writeUInt32BE(SIZE, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
// Rounded square with a diagonal gradient; `glyph(x, y)` says where the white mark is.
function icon([c1, c2], glyph) {
  return png((x, y) => {
    const r = 22,
      m = 4;
    const dx = Math.max(m + r - x, 0, x - (SIZE - m - r)),
      dy = Math.max(m + r - y, 0, y - (SIZE - m - r));
    if (dx * dx + dy * dy > r * r) return [0, 0, 0, 0];
    if (glyph(x, y)) return [255, 255, 255, 255];
    const t = (x + y) / (2 * SIZE);
    return [0, 1, 2].map((i) => Math.round(c1[i] * (1 - t) + c2[i] * t)).concat(255);
  });
}
const seg = (x, y, x1, y1, x2, y2, w) => {
  const vx = x2 - x1,
    vy = y2 - y1,
    t = Math.max(0, Math.min(1, ((x - x1) * vx + (y - y1) * vy) / (vx * vx + vy * vy)));
  const px = x1 + t * vx - x,
    py = y1 + t * vy - y;
  return px * px + py * py <= w * w;
};
const chevronUp = (x, y, cy) => seg(x, y, 40, cy + 18, 64, cy - 6, 7) || seg(x, y, 64, cy - 6, 88, cy + 18, 7);
const icons = {
  'images/extension-icon.png': [
    [
      [14, 116, 144],
      [37, 99, 235],
    ],
    (x, y) => chevronUp(x, y, 44) || chevronUp(x, y, 74),
  ],
  'tasks/version-bump/icon.png': [
    [
      [5, 150, 105],
      [14, 116, 144],
    ],
    (x, y) => chevronUp(x, y, 42) || seg(x, y, 64, 40, 64, 96, 7),
  ],
  'tasks/build-wheel/icon.png': [
    [
      [217, 119, 6],
      [220, 38, 38],
    ],
    (x, y) => {
      const d = Math.hypot(x - 64, y - 64);
      return (
        (d > 26 && d < 38) ||
        d < 9 ||
        [0, 1, 2, 3, 4, 5].some((k) => seg(x, y, 64, 64, 64 + 34 * Math.cos((k * Math.PI) / 3), 64 + 34 * Math.sin((k * Math.PI) / 3), 4))
      );
    },
  ],
  'tasks/promote-branch/icon.png': [
    [
      [124, 58, 237],
      [37, 99, 235],
    ],
    (x, y) => seg(x, y, 30, 64, 92, 64, 7) || seg(x, y, 72, 42, 94, 64, 7) || seg(x, y, 72, 86, 94, 64, 7),
  ],
  'tasks/update-submodules/icon.png': [
    [
      [71, 85, 105],
      [15, 23, 42],
    ],
    (x, y) =>
      [
        [40, 40],
        [88, 40],
        [64, 90],
      ].some(([cx, cy]) => Math.hypot(x - cx, y - cy) < 13) ||
      seg(x, y, 40, 40, 64, 90, 4) ||
      seg(x, y, 88, 40, 64, 90, 4),
  ],
  'tasks/regenerate-sample-data/icon.png': [
    [
      [8, 145, 178],
      [22, 163, 74],
    ],
    (x, y) =>
      [
        [34, 30, 94],
        [52, 50, 94],
        [70, 70, 94],
        [88, 86, 94],
      ].some(([cx, top, bottom]) => x > cx - 7 && x < cx + 7 && y > top && y < bottom),
  ],
};
// A task's icon is written only once its folder exists.
const written = Object.entries(icons).filter(([file]) => existsSync(dirname(join(root, file))));
for (const [file, [colors, glyph]] of written) writeFileSync(join(root, file), icon(colors, glyph));
console.log(`Wrote ${written.map(([f]) => f).join(', ')}.`);
