// Restore faded hair lines and fill hollow (outline) glyphs: runtime/strokes.py for the browser.
// Same thresholds, same order of work; tests/web/test_browser.py compares the two on real files.

const WALL = 0.25;
const INK = 0.5;
const MAX_ROUNDNESS = 0.35;
const MIN_BORDERED = 0.7;
const MIN_INTERIOR = 0.5;
const MAX_OUTLINE_WIDTH = 1.0;
const GHOST = 0.5;

// A 20 px digit that faded in the shrinking (peak below GHOST) is scaled back to full ink.
export function restoreContrast(digit) {
  let peak = 0;
  for (let i = 0; i < digit.data.length; i++) peak = Math.max(peak, digit.data[i]);
  if (!(peak > 0 && peak < GHOST)) return digit;
  const out = new Float32Array(digit.data.length);
  for (let i = 0; i < out.length; i++) out[i] = digit.data[i] / peak; // stored as float32, as numpy's
  return { data: out, width: digit.width, height: digit.height };
}

function perimeter(mask, w, h) {
  // edges between the mask and the rest, the frame counting as outside
  let edges = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x <= w; x++) {
      const a = x > 0 ? mask[y * w + x - 1] : 0, b = x < w ? mask[y * w + x] : 0;
      if (a !== b) edges++;
    }
  }
  for (let x = 0; x < w; x++) {
    for (let y = 0; y <= h; y++) {
      const a = y > 0 ? mask[(y - 1) * w + x] : 0, b = y < h ? mask[y * w + x] : 0;
      if (a !== b) edges++;
    }
  }
  return edges;
}

function count(mask) {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return n;
}

export function strokeWidth(data, w, h) {
  const mask = new Uint8Array(w * h);
  for (let i = 0; i < mask.length; i++) mask[i] = data[i] >= INK ? 1 : 0;
  return (2 * count(mask)) / Math.max(perimeter(mask, w, h), 1);
}

// Every pixel of `allowed` 4-connected to `seed` (both Uint8Array masks).
function flood(seed, allowed, w, h) {
  const reach = new Uint8Array(w * h);
  const stack = [];
  for (let i = 0; i < reach.length; i++) {
    if (seed[i] && allowed[i]) { reach[i] = 1; stack.push(i); }
  }
  while (stack.length) {
    const i = stack.pop(), y = Math.floor(i / w), x = i % w;
    const next = [y > 0 ? i - w : -1, y < h - 1 ? i + w : -1, x > 0 ? i - 1 : -1, x < w - 1 ? i + 1 : -1];
    for (const j of next) {
      if (j >= 0 && allowed[j] && !reach[j]) { reach[j] = 1; stack.push(j); }
    }
  }
  return reach;
}

// 3x3 max (dilation) or min (erosion), the outside reading as 0; returns the array type it was given.
function pool3(data, w, h, reduceMax) {
  const out = new data.constructor(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let best = reduceMax ? -Infinity : Infinity;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy, xx = x + dx;
          const v = yy >= 0 && yy < h && xx >= 0 && xx < w ? data[yy * w + xx] : 0;
          best = reduceMax ? Math.max(best, v) : Math.min(best, v);
        }
      }
      out[y * w + x] = best;
    }
  }
  return out;
}

function bandInteriors(wall, w, h) {
  const frame = new Uint8Array(w * h), open = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      frame[i] = y === 0 || y === h - 1 || x === 0 || x === w - 1 ? 1 : 0;
      open[i] = wall[i] ? 0 : 1;
    }
  }
  const outside = flood(frame, open, w, h);
  const holes = new Uint8Array(w * h), bands = new Uint8Array(w * h);
  for (let i = 0; i < holes.length; i++) holes[i] = open[i] && !outside[i] ? 1 : 0;
  for (let first = holes.indexOf(1); first >= 0; first = holes.indexOf(1)) {
    const seed = new Uint8Array(w * h);
    seed[first] = 1;
    const part = flood(seed, holes, w, h);
    for (let i = 0; i < holes.length; i++) if (part[i]) holes[i] = 0;
    const thin = count(pool3(pool3(part, w, h, false), w, h, false)) === 0;
    const per = perimeter(part, w, h);
    const roundness = (4 * Math.PI * count(part)) / (per * per);
    if (thin && roundness < MAX_ROUNDNESS) for (let i = 0; i < bands.length; i++) bands[i] |= part[i];
  }
  return bands;
}

// The solid glyph if `digit` ({data, width, height}) is an outline; otherwise `digit` itself.
export function fillOutline(digit) {
  const { data, width: w, height: h } = digit;
  const ink = new Uint8Array(w * h), wall = new Uint8Array(w * h);
  for (let i = 0; i < data.length; i++) {
    ink[i] = data[i] >= INK ? 1 : 0;
    wall[i] = data[i] >= WALL ? 1 : 0;
  }
  const inkCount = count(ink);
  if (strokeWidth(data, w, h) >= MAX_OUTLINE_WIDTH || inkCount === 0) return digit;
  const bands = bandInteriors(wall, w, h);
  const near = pool3(bands, w, h, true);
  let bordered = 0;
  for (let i = 0; i < ink.length; i++) bordered += ink[i] && near[i] ? 1 : 0;
  if (count(bands) < MIN_INTERIOR * inkCount || bordered / inkCount < MIN_BORDERED) return digit;
  const out = Float32Array.from(data);
  for (let i = 0; i < out.length; i++) if (bands[i]) out[i] = 1;
  return { data: out, width: w, height: h };
}
