// Find the digit in a picture, in the browser: the twin of runtime/find.py, on OpenCV.js.
//
// Same steps, same constants, same OpenCV calls: polarity, the paper with its illumination (a
// morphological opening at low resolution), ink against the local paper, ruled and squared lines
// removed (Hough lines), strokes grouped by proximity, the group with the most ink kept.
// runtime/find.py explains each step. Change one, change the other; tests/web/test_browser.py
// compares the two on the same files.

import { WORK_SIDE } from "./decode.js";

export class NoDigitError extends Error {}

export const MIN_CONTRAST = 0.08;
const PEAK_PERCENTILE = 99.9;
const SMALL_INK = 0.0002;
const SMALL_INK_PX = 16;
const SPARSE = 2 * (1 - PEAK_PERCENTILE / 100);
const HISTOGRAM_BINS = 4096;
const MIN_HEADROOM = 0.25;
const MAX_BORDER_SPREAD = 0.2;
const PAPER_SHARE = 0.7;
const SPARSER = 0.5;
const POLARITY_MARGIN = 0.15;
const MAX_ASPECT = 2.5;
const BACKGROUND_SIDE = 160;
const BACKGROUND_WINDOW = 0.3;
const MIN_EDGE = 0.03;
const EDGE_WINDOW = 0.1;
const STRONG_INK = 0.4;
const LINE_LENGTH = 0.5;
const MIN_PHOTO_SIDE = 64;
const LINE_FAMILY = 3;
const LINE_COVERAGE = 0.6;
const FRAME_CONTACT = 0.3;
const RING = 0.5;
const SLIVER = 0.06;
const HUG = 0.5;
const MARGIN = 0.1;
const HUGS = 0.7;
const INSIDE_SHARE = 0.03;
const FILLS = 0.6;
const ACROSS = 0.9;
const LINE_ANGLE = 20.0;
const THIN = 0.012;
const SPECK = 0.02;
const GROUP_GAP = 0.35;
const REACH = 3;
const CORE = 0.9;
const PIECE = 0.002;
const MIN_PIECE_PX = 4;
const GRAIN_GAP = 0.006;
const GRAINY = 8;
const GRAINS = 20;
const GRAIN_DENSITY = 0.005;
const MAX_PIECES = 12;
const PANEL = 0.85;
const PANEL_TURNED = 0.9;
const MIN_PANEL_PX = 16;
const NEAR_PANEL = 0.8;
const HALF = 0.5;
const PANEL_GROWTH = 0.25;
const SOFT = 5.0;
const SHARP_EDGES = 10;
const SHADOW_EDGE = 0.1;
const MIN_SHADOW_EDGE = 16;
const SHADOW_WINDOW = 9;
const STROKES_WIDE = 2.5;
const ACROSS_SHADOW = 0.4;
const SHADOW_AREA = 0.1;
const NESTING = 2;
const OTHER_DIGIT = 0.35;
const COLUMN_OVERLAP = 0.5;
const LINE_GAP = 0.2;
const DIGIT_HEIGHT = 0.7;
const NUMBER_INK = 0.85;
const WEAK = 0.7;
const WEAK_REACH = 0.01;
const NOISE = "no digit found (the picture looks like noise or a texture, not a written digit)";

const f32 = Math.fround;
let cv = null;

// OpenCV.js is a WebAssembly module: load it once, before the first picture.
export async function loadFinder(load) {
  if (!cv) cv = await load();
  return cv;
}

// Python's round(): halves go to the even neighbour (preprocess.js uses it too).
export function roundHalfEven(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// Mats live in WebAssembly memory: every one made in `body` is freed when it returns.
function scoped(body) {
  const made = [];
  const keep = (mat) => (made.push(mat), mat);
  try {
    return body(keep);
  } finally {
    for (const mat of made) mat.delete();
  }
}

function percentile(hist, q) {
  let total = 0;
  for (const v of hist) total += v;
  const target = (q / 100) * (total - 1);
  let cumulative = 0;
  for (let i = 0; i < hist.length; i++) {
    cumulative += hist[i];
    if (cumulative > target) return i;
  }
  return hist.length;
}

// { plain: a plain border's answer or null, tones: the tones' answer or null, vote: the border's } (`_polarity`).
function polarity(gray8, width, height, keep) {
  const border = [];
  for (let x = 0; x < width; x++) border.push(gray8[x]);
  for (let x = 0; x < width; x++) border.push(gray8[(height - 1) * width + x]);
  for (let y = 1; y < height - 1; y++) border.push(gray8[y * width]);
  for (let y = 1; y < height - 1; y++) border.push(gray8[y * width + width - 1]);
  border.sort((a, b) => a - b);
  const n = border.length - 1;
  if (border[Math.floor((3 * n) / 4)] - border[Math.floor(n / 4)] <= MAX_BORDER_SPREAD * 255) {
    const paper = border[border.length >> 1];
    let low = 255, high = 0;
    for (const v of gray8) { if (v < low) low = v; if (v > high) high = v; }
    const dark = 2 * paper > low + high;
    if (Math.min(width, height) < MIN_PHOTO_SIDE || !(1 / MAX_ASPECT <= width / height && width / height <= MAX_ASPECT)) {
      return { plain: dark, tones: dark, vote: dark };
    }
    // ...unless it is a desk all round a page that fills most of the picture in the other tone.
    const mat = keep(cv.matFromArray(height, width, cv.CV_8UC1, gray8));
    const threshold = cv.threshold(mat, keep(new cv.Mat()), 0, 255, cv.THRESH_BINARY + cv.THRESH_OTSU);
    let light = 0;
    for (const v of gray8) if (v > threshold) light++;
    if (dark ? light <= (1 - PAPER_SHARE) * gray8.length : light >= PAPER_SHARE * gray8.length) {
      return { plain: null, tones: !dark, vote: dark };
    }
    return { plain: dark, tones: dark, vote: dark };
  }
  const mat = keep(cv.matFromArray(height, width, cv.CV_8UC1, gray8));
  const threshold = cv.threshold(mat, keep(new cv.Mat()), 0, 255, cv.THRESH_BINARY + cv.THRESH_OTSU);
  let above = 0;
  for (const v of border) if (v > threshold) above++;
  const vote = 2 * above > border.length;
  if (1 / MAX_ASPECT <= width / height && width / height <= MAX_ASPECT) {
    let light = 0;
    for (const v of gray8) if (v > threshold) light++;
    if (light >= PAPER_SHARE * gray8.length || light <= (1 - PAPER_SHARE) * gray8.length) {
      return { plain: null, tones: light >= PAPER_SHARE * gray8.length, vote };
    }
  }
  return { plain: null, tones: null, vote };
}

function odd(value) {
  return Math.max(3, roundHalfEven(value) | 1);
}

// The ink's robust peak (runtime/find.py `_peak`) over a Float32Array (rows x cols, row stride `stride`).
function peakOf(ink, rows, cols, stride = cols, offset = 0) {
  const size = rows * cols;
  if (size <= 1000) {
    let peak = 0;
    for (let y = 0; y < rows; y++) for (let x = 0; x < cols; x++) peak = Math.max(peak, ink[offset + y * stride + x]);
    return peak;
  }
  const step = size > 250000 ? 2 : 1;
  const counts = new Float64Array(HISTOGRAM_BINS);
  let total = 0;
  for (let y = 0; y < rows; y += step) {
    for (let x = 0; x < cols; x += step) {
      counts[Math.trunc(f32(Math.min(ink[offset + y * stride + x], 1) * (HISTOGRAM_BINS - 1)))] += 1;
      total++;
    }
  }
  const target = (PEAK_PERCENTILE / 100) * total;
  let cumulative = 0, rank = 0;
  for (; rank < HISTOGRAM_BINS; rank++) {
    cumulative += counts[rank];
    if (cumulative >= target) break;
  }
  return Math.min(rank + 1, HISTOGRAM_BINS - 1) / (HISTOGRAM_BINS - 1);
}

// Ink-up uint8 Mat -> Float32Array ink above the local paper, as a fraction of the headroom.
function againstPaper(up, keep) {
  const h = up.rows, w = up.cols;
  const factor = Math.max(1, Math.ceil(Math.max(h, w) / BACKGROUND_SIDE));
  const small = keep(new cv.Mat());
  cv.resize(up, small, new cv.Size(Math.max(1, Math.floor(w / factor)), Math.max(1, Math.floor(h / factor))), 0, 0,
    cv.INTER_AREA);
  const window = odd(BACKGROUND_WINDOW * Math.max(small.rows, small.cols));
  const kernel = keep(cv.getStructuringElement(cv.MORPH_RECT, new cv.Size(window, window)));
  const opened = keep(new cv.Mat());
  cv.morphologyEx(small, opened, cv.MORPH_OPEN, kernel, new cv.Point(-1, -1), 1, cv.BORDER_CONSTANT,
    cv.morphologyDefaultBorderValue());
  const blurred = keep(new cv.Mat());
  cv.blur(opened, blurred, new cv.Size(window, window), new cv.Point(-1, -1), cv.BORDER_REPLICATE);
  const background = keep(new cv.Mat());
  cv.resize(blurred, background, new cv.Size(w, h), 0, 0, cv.INTER_LINEAR);
  const above = keep(new cv.Mat());
  cv.subtract(up, background, above);
  const a = above.data, b = background.data;
  const floor = f32(MIN_HEADROOM * 255);
  const ink = new Float32Array(h * w);
  for (let i = 0; i < ink.length; i++) ink[i] = f32(a[i] / Math.max(f32(255 - b[i]), floor));
  return ink;
}

// Ink-up uint8 Mat -> { ink, edges } (`_ink_up`).
function inkUp(up, keep) {
  const h = up.rows, w = up.cols;
  const ink = againstPaper(up, keep);
  const window = odd(EDGE_WINDOW * Math.max(h, w));
  const blurred = keep(new cv.Mat());
  cv.blur(up, blurred, new cv.Size(window, window), new cv.Point(-1, -1), cv.BORDER_REPLICATE);
  const edges = keep(new cv.Mat());
  cv.absdiff(up, blurred, edges);
  const e = new Float32Array(h * w);
  const edgeData = edges.data; // one view: each read of a Mat's .data makes a new one
  for (let i = 0; i < e.length; i++) e[i] = f32(edgeData[i] / 255);
  return { ink, edges: e };
}

// The level that the brightest SMALL_INK of `values` (a Float32Array of values >= 0) reach, at least
// SMALL_INK_PX of them: the peak of ink too sparse for PEAK_PERCENTILE to see (find.py: _top).
function topOf(values) {
  const k = Math.min(values.length, Math.max(SMALL_INK_PX, Math.trunc(SMALL_INK * values.length)));
  let n = 0;
  for (const v of values) if (v > 0) n++;
  if (n < k) return 0;
  const bright = new Float32Array(n);
  n = 0;
  for (const v of values) if (v > 0) bright[n++] = v;
  bright.sort();
  return bright[n - k];
}

// uint8 picture -> { ink, edges } (`_ink_and_edges`): the contrast is the edges' peak.
function inkImage(gray8, width, height, keep) {
  const source = keep(cv.matFromArray(height, width, cv.CV_8UC1, gray8));
  const inverted = () => {
    const mat = keep(new cv.Mat());
    cv.bitwise_not(source, mat);
    return mat;
  };
  const { plain, tones, vote } = polarity(gray8, width, height, keep);
  if (plain !== null) return inkUp(plain ? inverted() : source, keep);
  const asDark = inkUp(inverted(), keep), asLight = inkUp(source, keep);
  const peakDark = peakOf(asDark.ink, height, width), peakLight = peakOf(asLight.ink, height, width);
  const area = (ink, peak) => {
    if (!(peak > 0)) return ink.length;
    const half = f32(peak / 2);
    let n = 0;
    for (const v of ink) if (v >= half) n++;
    return n;
  };
  const areaDark = area(asDark.ink, peakDark), areaLight = area(asLight.ink, peakLight);
  let dark;
  if (Math.min(areaDark, areaLight) < SPARSER * Math.max(areaDark, areaLight)) dark = areaDark < areaLight;
  else if (Math.abs(peakDark - peakLight) > POLARITY_MARGIN) dark = peakDark > peakLight;
  else dark = tones === null ? vote : tones;
  return dark ? asDark : asLight;
}

// The ink level between strokes and a mere darkening (`_stroke_level`).
function strokeLevel(ink, peak, keep) {
  const scale = f32(255.0 / peak);
  const floor = Math.trunc((255 * STRONG_INK) / 2);
  const levels = new Uint8Array(ink.length);
  let n = 0;
  for (const v of ink) {
    const level = Math.trunc(Math.min(f32(v * scale), 255));
    if (level >= floor) levels[n++] = level;
  }
  if (n < 2) return STRONG_INK * peak;
  const mat = keep(cv.matFromArray(1, n, cv.CV_8UC1, levels.subarray(0, n)));
  const threshold = cv.threshold(mat, keep(new cv.Mat()), 0, 255, cv.THRESH_BINARY + cv.THRESH_OTSU);
  return Math.max(STRONG_INK, threshold / 255) * peak;
}

// The box of a mask's pixels (W x H), its last column and row included: [left, top, right, bottom],
// right -1 for an empty mask (cv2.boundingRect, as find.py reads it).
function boxOf(mask, W, H) {
  let left = W, top = H, right = -1, bottom = -1;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!mask[y * W + x]) continue;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      bottom = y;
    }
  }
  return [left, top, right, bottom];
}

// `_hysteresis` in find.py: the stroke mask grown into the weaker ink it touches, near it. Nothing
// grows beyond side / 2 of the strokes' box, so the work stays inside that box.
function grow(strong, ink, low, keep) {
  const H = strong.rows, W = strong.cols;
  const side = odd(WEAK_REACH * Math.max(W, H)), half = side >> 1;
  const stroke = strong.data;
  const [left, top, right, bottom] = boxOf(stroke, W, H);
  if (right < 0) return strong; // no stroke: nothing grows
  const x0 = Math.max(left - half, 0), y0 = Math.max(top - half, 0);
  const x1 = Math.min(right + 1 + half, W), y1 = Math.min(bottom + 1 + half, H);
  const w = x1 - x0, h = y1 - y0;
  const box = keep(strong.roi(new cv.Rect(x0, y0, w, h)));
  const near = keep(new cv.Mat());
  cv.dilate(box, near, keep(cv.getStructuringElement(cv.MORPH_RECT, new cv.Size(side, side))));
  const nearData = near.data; // a view of OpenCV's heap: read before the next allocation
  const weakData = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y + y0) * W + x + x0;
      weakData[y * w + x] = ink[i] >= low && nearData[y * w + x] ? 255 : 0;
    }
  }
  const labels = keep(new cv.Mat());
  const count = cv.connectedComponents(keep(cv.matFromArray(h, w, cv.CV_8UC1, weakData)), labels, 8, cv.CV_32S);
  const label = labels.data32S;
  const grown = new Uint8Array(count);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (stroke[(y + y0) * W + x + x0]) grown[label[y * w + x]] = 255;
  grown[0] = 0;
  const out = new Uint8Array(W * H);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(y + y0) * W + x + x0] = grown[label[y * w + x]];
  return keep(cv.matFromArray(H, W, cv.CV_8UC1, out));
}

function removeLines(strong, side, keep) {
  const h = strong.rows, w = strong.cols;
  if (side < MIN_PHOTO_SIDE) return strong;
  const thinSide = Math.max(2, roundHalfEven(THIN * Math.max(h, w)));
  const thick = keep(new cv.Mat());
  const square = keep(cv.getStructuringElement(cv.MORPH_RECT, new cv.Size(thinSide + 1, thinSide + 1)));
  cv.morphologyEx(strong, thick, cv.MORPH_OPEN, square);
  const thin = keep(new cv.Mat());
  cv.subtract(strong, thick, thin);
  const votes = Math.max(10, Math.trunc(LINE_LENGTH * side));
  if (cv.countNonZero(thin) < votes) return strong; // too few thin pixels for one line's votes
  const found = keep(new cv.Mat());
  cv.HoughLines(thin, found, 1, Math.PI / 180, votes);
  if (found.rows === 0) return strong;
  const families = new Map([[true, []], [false, []]]);
  const near = keep(new cv.Mat()); // on or next to a stroke
  cv.dilate(thin, near, keep(cv.Mat.ones(3, 3, cv.CV_8U)));
  const f = found.data32F;
  for (let i = 0; i < found.rows; i++) {
    const rho = f[2 * i], theta = f[2 * i + 1];
    const angle = (theta * 180) / Math.PI;
    const horizontal = Math.abs(angle - 90) <= LINE_ANGLE;
    if (horizontal || Math.min(angle, 180 - angle) <= LINE_ANGLE) {
      const c = Math.cos(theta), s = Math.sin(theta);
      const offset = horizontal ? (rho - (w / 2) * c) / s : (rho - (h / 2) * s) / c;
      // A row of typed digits puts its tops and bottoms on a line too, with gaps between them.
      if (coverageOf(near, rho, theta, keep) < LINE_COVERAGE) continue;
      families.get(horizontal).push([offset, rho, theta]);
    }
  }
  const lines = keep(cv.Mat.zeros(h, w, cv.CV_8UC1));
  const reach = 2 * (h + w);
  for (const members of families.values()) {
    if (members.length < LINE_FAMILY) continue;
    const offsets = members.map((m) => m[0]);
    if (Math.max(...offsets) - Math.min(...offsets) <= 4 * thinSide) continue;
    for (const [, rho, theta] of members) cv.line(lines, ...lineEnds(rho, theta, reach), new cv.Scalar(255), thinSide + 2);
  }
  cv.bitwise_and(lines, thin, lines);
  const cleared = keep(new cv.Mat());
  cv.subtract(strong, lines, cleared);
  return cv.countNonZero(cleared) ? cleared : strong;
}

// Two points `reach` px either side of where a Hough line (rho, theta) is nearest the origin (`_line_ends`).
function lineEnds(rho, theta, reach) {
  const c = Math.cos(theta), s = Math.sin(theta);
  const x = rho * c, y = rho * s;
  return [new cv.Point(roundHalfEven(x - reach * s), roundHalfEven(y + reach * c)),
    new cv.Point(roundHalfEven(x + reach * s), roundHalfEven(y - reach * c))];
}

// The share of a Hough line's length, within the picture, that lies on `near` (`_coverage`).
function coverageOf(near, rho, theta, keep) {
  const line = keep(cv.Mat.zeros(near.rows, near.cols, cv.CV_8UC1));
  cv.line(line, ...lineEnds(rho, theta, 2 * (near.rows + near.cols)), new cv.Scalar(255), 1);
  const length = cv.countNonZero(line);
  if (!length) return 0;
  const on = keep(new cv.Mat());
  cv.bitwise_and(line, near, on);
  return cv.countNonZero(on) / length;
}

// Indices of boxes [x, y, w, h] grouped transitively when within `gap` of each other (`_group`).
function group(boxes, gap, kind) {
  return unions(boxes.length, (i, j) =>
    Math.max(apart(boxes[i], boxes[j], 0), apart(boxes[i], boxes[j], 1)) <= gap && kind[i] === kind[j]);
}

// The gap between boxes a and b (x, y, w, h) along an axis (0: x, 1: y); 0 where they overlap (find.py: _apart).
function apart(a, b, axis) {
  return Math.max(b[axis] - (a[axis] + a[axis + 2]), a[axis] - (b[axis] + b[axis + 2]), 0);
}

// The group's mask (in its box, bw x bh) with its holes filled, 0/1 (`_filled`).
function filledMask(member, bw, bh, keep) {
  const outsideMask = new Uint8Array((bw + 2) * (bh + 2)).fill(1);
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) outsideMask[(y + 1) * (bw + 2) + x + 1] = member[y * bw + x] ? 0 : 1;
  }
  const labels = keep(new cv.Mat());
  cv.connectedComponents(keep(cv.matFromArray(bh + 2, bw + 2, cv.CV_8UC1, outsideMask)), labels, 4, cv.CV_32S);
  const l = labels.data32S, outside = l[0], filled = new Uint8Array(bw * bh);
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) filled[y * bw + x] = l[(y + 1) * (bw + 2) + x + 1] !== outside ? 1 : 0;
  }
  return filled;
}

function countOf(mask) {
  let n = 0;
  for (const v of mask) if (v) n++;
  return n;
}

// The pixels of a 0/1 mask (width w) as OpenCV points, row by row (cv2.findNonZero's order).
function pointsOf(mask, w, keep) {
  const xy = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) xy.push(i % w, (i / w) | 0);
  return keep(cv.matFromArray(xy.length / 2, 1, cv.CV_32SC2, xy));
}

// { mask, box } of the panel where the group (`member`, in its box x0, y0, x1, y1) is a solid box that
// holds the digit; else null (`_panel`): the ink above Otsu's level in a window round the group that
// touches it, its holes filled, covering PANEL of its box or PANEL_TURNED of its smallest turned
// rectangle (a card askew on a desk); or the group itself, solid in its box, unless that panel
// outgrows it by PANEL_GROWTH of its size (a card's lit side).
function panelOf(member, ink, W, H, x0, y0, x1, y1, keep) {
  const bw = x1 - x0, bh = y1 - y0;
  const own = filledMask(member, bw, bh, keep);
  const ownArea = countOf(own);
  if (ownArea < PANEL * bw * bh && (ownArea < HALF * bw * bh || !turnedSolid(member, ink, W, x0, y0, bw, bh, keep))) {
    return null; // not nearly a panel even in its own box: a digit
  }
  const wx0 = Math.max(2 * x0 - x1, 0), wy0 = Math.max(2 * y0 - y1, 0);
  const wx1 = Math.min(2 * x1 - x0, W), wy1 = Math.min(2 * y1 - y0, H);
  const ww = wx1 - wx0, wh = wy1 - wy0;
  const above = aboveOtsu(ink, W, wx0, wy0, ww, wh, keep);
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) if (member[y * bw + x]) above[(y + y0 - wy0) * ww + x + x0 - wx0] = 1;
  }
  const labelMat = keep(new cv.Mat());
  cv.connectedComponents(keep(cv.matFromArray(wh, ww, cv.CV_8UC1, above)), labelMat, 8, cv.CV_32S);
  const labels = labelMat.data32S, touched = new Set();
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) if (member[y * bw + x]) touched.add(labels[(y + y0 - wy0) * ww + x + x0 - wx0]);
  }
  let left = ww, top = wh, right = 0, bottom = 0; // the region's box (cv2.boundingRect)
  for (let y = 0; y < wh; y++) {
    for (let x = 0; x < ww; x++) {
      if (!touched.has(labels[y * ww + x])) continue;
      left = Math.min(left, x); right = Math.max(right, x + 1); top = Math.min(top, y); bottom = Math.max(bottom, y + 1);
    }
  }
  const rw = right - left, rh = bottom - top, region = new Uint8Array(rw * rh);
  for (let y = 0; y < rh; y++) {
    for (let x = 0; x < rw; x++) region[y * rw + x] = touched.has(labels[(y + top) * ww + x + left]) ? 1 : 0;
  }
  const filled = filledMask(region, rw, rh, keep);
  const solid = countOf(filled) >= PANEL * rw * rh || turnedFill(filled, rw, rh, keep) >= PANEL_TURNED;
  const wide = [wx0 + left, wy0 + top, wx0 + right, wy0 + bottom];
  if (ownArea >= PANEL * bw * bh) { // the group alone is a solid box, unless only part of one
    const grown = Math.max(x0 - wide[0], y0 - wide[1], wide[2] - x1, wide[3] - y1) / Math.max(bw, bh);
    return solid && grown > PANEL_GROWTH ? { mask: filled, box: wide } : { mask: own, box: [x0, y0, x1, y1] };
  }
  return solid ? { mask: filled, box: wide } : null;
}

// The ink of a window (w x h at x0, y0 of the picture, width W) above Otsu's level there, 0/1 (as uint8).
function aboveOtsu(ink, W, x0, y0, w, h, keep) {
  const ink8 = new Uint8Array(w * h); // cv2.convertScaleAbs(ink, alpha=255)
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) ink8[y * w + x] = Math.min(255, roundHalfEven(Math.abs(f32(ink[(y + y0) * W + x + x0] * 255))));
  }
  const above = keep(new cv.Mat());
  cv.threshold(keep(cv.matFromArray(h, w, cv.CV_8UC1, ink8)), above, 0, 1, cv.THRESH_BINARY + cv.THRESH_OTSU);
  return Uint8Array.from(above.data);
}

// The share of the smallest turned rectangle round a mask's pixels that they cover (`_turned_fill`),
// the rectangle taken round the mask's outer outlines.
function turnedFill(mask, w, h, keep) {
  const contours = keep(new cv.MatVector()), hierarchy = keep(new cv.Mat());
  cv.findContours(keep(cv.matFromArray(h, w, cv.CV_8UC1, mask)), contours, hierarchy, cv.RETR_EXTERNAL,
    cv.CHAIN_APPROX_SIMPLE);
  const xy = [];
  for (let i = 0; i < contours.size(); i++) {
    const contour = contours.get(i);
    for (const v of contour.data32S) xy.push(v);
    contour.delete();
  }
  const { size } = cv.minAreaRect(keep(cv.matFromArray(xy.length / 2, 1, cv.CV_32SC2, xy)));
  return countOf(mask) / ((size.width + 1) * (size.height + 1));
}

// Whether the group with the ink above Otsu's level in its box, holes filled, covers NEAR_PANEL of
// its smallest turned rectangle (`_turned_solid`).
function turnedSolid(member, ink, W, x0, y0, bw, bh, keep) {
  const above = aboveOtsu(ink, W, x0, y0, bw, bh, keep);
  for (let i = 0; i < above.length; i++) above[i] = member[i] || above[i] ? 1 : 0;
  return turnedFill(filledMask(above, bw, bh, keep), bw, bh, keep) >= NEAR_PANEL;
}

// The magnitude of a float32 Mat's Sobel 3x3 gradient per pixel, as a Float32Array (find.py `_slope`): 8
// times the ink's rise per pixel (the kernel sums to 8), which riseOf and shadowOf divide out.
function slopeOf(mat, keep) {
  const gx = keep(new cv.Mat()), gy = keep(new cv.Mat()), slope = keep(new cv.Mat());
  cv.Sobel(mat, gx, cv.CV_32F, 1, 0, 3);
  cv.Sobel(mat, gy, cv.CV_32F, 0, 1, 3);
  cv.magnitude(gx, gy, slope);
  return slope.data32F.slice();
}

// Per component, how many pixels its edge takes to rise to its ink (find.py `_rise`): over its boundary
// pixels, the sum of their ink over the sum of the ink's slope there (Sobel's 3x3 gradient, per pixel).
function riseOf(strong, label, ink, W, H, count, keep) {
  const eroded = keep(new cv.Mat());
  cv.erode(strong, eroded, keep(cv.Mat.ones(3, 3, cv.CV_8U)), new cv.Point(-1, -1), 1, cv.BORDER_CONSTANT,
    cv.morphologyDefaultBorderValue());
  const slope = slopeOf(keep(cv.matFromArray(H, W, cv.CV_32FC1, ink)), keep);
  const level = new Float64Array(count), steep = new Float64Array(count);
  const s = strong.data, e = eroded.data;
  for (let i = 0; i < s.length; i++) {
    if (s[i] <= e[i]) continue;
    level[label[i]] += ink[i];
    steep[label[i]] += slope[i];
  }
  return Array.from(level, (v, c) => v / Math.max(steep[c] / 8, 1e-9)); // Sobel's kernel sums to 8
}

// The part of the stroke mask that is a soft shadow run into by the strokes, as a 0/255 Mat, or null
// (find.py `_shadow`): each pixel belongs to the nearest point of the mask's outline; where that outline
// rises SOFT times as slowly as the sharp outlines do, the pixel is shadow, unless it stands out against
// the shadow as a stroke does (a top-hat a few strokes wide). Only blobs of SHADOW_AREA of the mask.
function shadowOf(strong, ink, W, H, keep) {
  const s = strong.data;
  const [left, top, right, bottom] = boxOf(s, W, H);
  if (right - left + 1 < 3 || bottom - top + 1 < 3) return null;
  const x0 = Math.max(left - 1, 0), y0 = Math.max(top - 1, 0);
  const x1 = Math.min(right + 2, W), y1 = Math.min(bottom + 2, H);
  const bw = x1 - x0, bh = y1 - y0, n = bw * bh;
  const maskData = new Uint8Array(n), up = new Float32Array(n);
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      maskData[y * bw + x] = s[(y + y0) * W + x + x0];
      up[y * bw + x] = ink[(y + y0) * W + x + x0];
    }
  }
  const mask = keep(cv.matFromArray(bh, bw, cv.CV_8UC1, maskData));
  const inner = keep(new cv.Mat());
  cv.erode(mask, inner, keep(cv.Mat.ones(3, 3, cv.CV_8U)), new cv.Point(-1, -1), 1, cv.BORDER_CONSTANT,
    cv.morphologyDefaultBorderValue());
  const innerData = inner.data.slice();
  const points = [];
  for (let i = 0; i < n; i++) if (maskData[i] > innerData[i]) points.push(i);
  if (points.length < MIN_SHADOW_EDGE) return null;
  const upMat = keep(cv.matFromArray(bh, bw, cv.CV_32FC1, up));
  const slopeData = slopeOf(upMat, keep);
  const rise = Float32Array.from(points, (i) => f32(up[i] / Math.max(f32(slopeData[i] / 8), f32(1e-6))));
  const sharp = Float32Array.from(rise).sort()[Math.trunc((SHARP_EDGES / 100) * (rise.length - 1))];
  const soft = Array.from(rise, (r) => r > SOFT * sharp);
  if (soft.filter(Boolean).length < SHADOW_EDGE * points.length) return null;
  // The outline's soft share around each of its pixels decides, not one pixel's noise.
  const marks = new Float32Array(n), edges = new Float32Array(n);
  points.forEach((i, k) => { edges[i] = 1; if (soft[k]) marks[i] = 1; });
  const window = new cv.Size(SHADOW_WINDOW, SHADOW_WINDOW);
  const marksBlur = keep(new cv.Mat()), edgesBlur = keep(new cv.Mat());
  cv.blur(keep(cv.matFromArray(bh, bw, cv.CV_32FC1, marks)), marksBlur, window);
  cv.blur(keep(cv.matFromArray(bh, bw, cv.CV_32FC1, edges)), edgesBlur, window);
  const mb = marksBlur.data32F.slice(), eb = edgesBlur.data32F.slice();
  const softEdge = points.filter((i) => f32(mb[i] / Math.max(eb[i], f32(1e-6))) > 0.5);
  if (!softEdge.length) return null;
  const distances = keep(new cv.Mat()), nearestMat = keep(new cv.Mat());
  cv.distanceTransformWithLabels(inner, distances, nearestMat, cv.DIST_L2, 5, cv.DIST_LABEL_PIXEL);
  const nearest = nearestMat.data32S.slice();
  const isSoft = new Set(softEdge.map((i) => nearest[i]));
  const region = new Uint8Array(n), keptData = new Uint8Array(n);
  let any = false;
  for (let i = 0; i < n; i++) {
    if (!maskData[i]) continue;
    if (isSoft.has(nearest[i])) region[i] = 1;
    else { keptData[i] = 1; any = true; }
  }
  if (!any) return null; // soft all round: a blurred digit, which stays
  // A stroke across the shadow stands out against the shadow round it.
  const keptDist = keep(new cv.Mat());
  cv.distanceTransform(keep(cv.matFromArray(bh, bw, cv.CV_8UC1, keptData)), keptDist, cv.DIST_L2, 5);
  const kd = keptDist.data32F;
  let total = 0, many = 0;
  for (let i = 0; i < n; i++) if (keptData[i]) { total += kd[i]; many++; }
  const side = odd(STROKES_WIDE * Math.max(4 * (total / many), 1.0));
  const hatMat = keep(new cv.Mat());
  cv.morphologyEx(upMat, hatMat, cv.MORPH_TOPHAT, keep(cv.getStructuringElement(cv.MORPH_ELLIPSE, new cv.Size(side, side))));
  const hat = hatMat.data32F.slice();
  const keptHat = [];
  for (let i = 0; i < n; i++) if (keptData[i]) keptHat.push(hat[i]);
  keptHat.sort((a, b) => a - b);
  const middle = keptHat.length >> 1; // np.median
  const median = keptHat.length % 2 ? keptHat[middle] : f32((keptHat[middle - 1] + keptHat[middle]) / 2);
  for (let i = 0; i < n; i++) if (region[i] && hat[i] >= ACROSS_SHADOW * median) region[i] = 0;
  // A shadow is a blob: soft specks in a chalk stroke's lace are not one.
  const regionMat = keep(cv.matFromArray(bh, bw, cv.CV_8UC1, region));
  const labels = keep(new cv.Mat()), stats = keep(new cv.Mat());
  const count = cv.connectedComponentsWithStats(regionMat, labels, stats, keep(new cv.Mat()), 8, cv.CV_32S);
  const pixels = countOf(maskData);
  const stat = stats.data32S, blobs = new Uint8Array(count);
  let blob = false;
  for (let c = 1; c < count; c++) if (stat[5 * c + 4] >= SHADOW_AREA * pixels) { blobs[c] = 1; blob = true; }
  if (!blob) return null;
  const label = labels.data32S, out = new Uint8Array(W * H);
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) if (blobs[label[y * bw + x]]) out[(y + y0) * W + x + x0] = 255;
  }
  return keep(cv.matFromArray(H, W, cv.CV_8UC1, out));
}

// The search inside a panel (`_inside_panel`): what it finds there, or null for a plain panel. Only the
// search of a panel whose outside took its edge's tone (`depth` below NESTING) looks for a panel again.
function insidePanel(crop, bw, bh, depth = NESTING) {
  try {
    return find(crop, bw, bh, depth);
  } catch (error) {
    if (!(error instanceof NoDigitError)) throw error;
    return null;
  }
}

// Whether a box found inside a panel spans ACROSS of it both ways: the panel's own edge (`_spans`).
function spans(box, bw, bh) {
  return box[2] - box[0] >= ACROSS * bw && box[3] - box[1] >= ACROSS * bh;
}

// Whether a box found inside a panel is a band along one of its sides (`_rim`): touching it, over half
// as long as it, and no deeper than 1 - ACROSS of the panel (a display's rim).
function rim(box, bw, bh) {
  const [x0, y0, x1, y1] = box;
  const alongX = x1 - x0 >= bw / 2 && y1 - y0 <= (1 - ACROSS) * bh && (y0 === 0 || y1 === bh);
  const alongY = y1 - y0 >= bh / 2 && x1 - x0 <= (1 - ACROSS) * bw && (x0 === 0 || x1 === bw);
  return alongX || alongY;
}

// The panel's own edge or its rim (`_edge`).
function edge(box, bw, bh) {
  return spans(box, bw, bh) || rim(box, bw, bh);
}

// Whether what the search inside a panel (pw x ph) found is its empty middle (`_middle`): a plain blob
// with less of the panel round it, on every side, than it is wide (the inside of a lit 0).
function middle(found, pw, ph, keep) {
  const mask = new Uint8Array(found.ink.length);
  for (let i = 0; i < mask.length; i++) mask[i] = found.ink[i] >= 0.5 ? 1 : 0;
  const n = countOf(mask);
  if (!n) return false;
  const points = pointsOf(mask, found.width, keep);
  const { size } = cv.minAreaRect(points);
  const hull = keep(new cv.Mat());
  cv.convexHull(points, hull, false, true);
  const area = cv.contourArea(hull) + cv.arcLength(hull, true) / 2 + 1;
  const [x0, y0, x1, y1] = found.box;
  const margin = Math.min(x0, y0, pw - x1, ph - y1);
  return n >= PANEL_TURNED * area && margin < Math.min(size.width, size.height);
}

// Components of the group's strokes plus the holes inside them, pinholes and crumbs aside (`_pieces`).
function pieces(mask, keep) {
  const least = Math.max(MIN_PIECE_PX, PIECE * mask.rows * mask.cols);
  const count = (mat, connectivity, skip) => {
    const stats = keep(new cv.Mat());
    const n = cv.connectedComponentsWithStats(mat, keep(new cv.Mat()), stats, keep(new cv.Mat()), connectivity, cv.CV_32S);
    let big = 0;
    for (let c = skip; c < n; c++) if (stats.data32S[5 * c + 4] >= least) big++;
    return big;
  };
  const inverse = keep(new cv.Mat());
  cv.threshold(mask, inverse, 0, 1, cv.THRESH_BINARY_INV);
  const framed = keep(new cv.Mat());
  cv.copyMakeBorder(inverse, framed, 1, 1, 1, 1, cv.BORDER_CONSTANT, new cv.Scalar(1));
  return count(mask, 8, 1) + count(framed, 4, 2);
}

// Float32Array luminance in [0, 1], or a Uint8Array of its levels (0-255) -> { ink, width, height, box, count, parts }: the digit with
// the most ink, its box in the picture's pixels, and where it may be several digits written close together, those (find.py: Found). A picture over WORK_SIDE on its longer side is searched at
// WORK_SIDE (OpenCV's area average), as in find.py.
export function findDigits(gray, width, height) {
  if (!cv) throw new Error("OpenCV.js is not loaded: await loadFinder() first");
  const levels = gray instanceof Uint8Array;
  const gray8 = levels ? gray : new Uint8Array(gray.length);
  for (let i = 0; !levels && i < gray.length; i++) {
    // roundHalfEven, inline: a call per pixel costs more than the rest of a clean canvas's work
    const v = f32(gray[i] * 255);
    if (!(v > 0)) continue; // 0 (and NaN: Uint8Array would store 0)
    let r = v >= 255 ? 255 : (v + 0.5) | 0;
    if (r - v === 0.5 && (r & 1)) r -= 1;
    gray8[i] = r;
  }
  const [w, h] = Math.max(width, height) <= WORK_SIDE ? [width, height] : workSize(width, height);
  const work = w === width && h === height ? gray8 : scoped((keep) => {
    const out = keep(new cv.Mat());
    cv.resize(keep(cv.matFromArray(height, width, cv.CV_8UC1, gray8)), out, new cv.Size(w, h), 0, 0, cv.INTER_AREA);
    return Uint8Array.from(out.data);
  });
  const found = clean(work, w, h) ?? find(work, w, h);
  if (w === width && h === height) return found;
  const sx = width / w, sy = height / h;
  const scaled = (item) => {
    const [left, top, right, bottom] = item.box;
    return { ...item, box: [Math.trunc(left * sx), Math.trunc(top * sy), Math.min(width, Math.ceil(right * sx)),
      Math.min(height, Math.ceil(bottom * sy))], parts: (item.parts ?? []).map(scaled) };
  };
  return scaled(found);
}

// The digit of a clean canvas (find.py: _clean): paper of exactly 0 or exactly 255 all round the
// frame, and every pixel of another level in one 8-connected stroke of one tone, is all of that
// ink, without the search's cost; null for any other picture, and for a stroke the search treats apart.
function clean(gray8, width, height) {
  const paper = gray8[0];
  if (paper !== 0 && paper !== 255) return null;
  for (let x = 0; x < width; x++) if (gray8[x] !== paper || gray8[(height - 1) * width + x] !== paper) return null;
  for (let y = 0; y < height; y++) if (gray8[y * width] !== paper || gray8[y * width + width - 1] !== paper) return null;
  let x0 = width, y0 = height, x1 = -1, y1 = -1, inked = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (gray8[y * width + x] === paper) continue;
      inked++;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  if (x1 < 0 || bw * bh < 2) return null; // nothing, or one pixel: the search says what that is
  if (inked < SPARSE * width * height) return null; // a speck the search would call blank (its peak)
  // Every stroke lies in the ink's box: its outlines are traced there only (OpenCV's contours
  // follow a component 8-connected, as the search's labels do, and list its holes under it).
  const up = new Uint8Array(bw * bh);
  let level = 0;
  for (let y = 0; y < bh; y++) {
    const from = (y + y0) * width + x0, to = y * bw;
    for (let x = 0; x < bw; x++) {
      const v = paper === 0 ? gray8[from + x] : 255 - gray8[from + x];
      up[to + x] = v;
      if (v > level) level = v;
    }
  }
  const peak = f32(level / 255);
  const line = (bw >= ACROSS * width && bh <= (1 - ACROSS) * height) || (bh >= ACROSS * height && bw <= (1 - ACROSS) * width);
  if (peak < MIN_CONTRAST || line) return null;
  // One tone: every pixel of ink within REACH of ink at CORE of its peak (soft edges are; a grey fill is not).
  if (!oneTone(up, bw, bh, CORE * level)) return null;
  return scoped((keep) => {
    // findContours takes every pixel that is not 0 as the component's
    const contours = keep(new cv.MatVector()), hierarchy = keep(new cv.Mat());
    cv.findContours(keep(cv.matFromArray(bh, bw, cv.CV_8UC1, up)), contours, hierarchy, cv.RETR_CCOMP, cv.CHAIN_APPROX_SIMPLE);
    const n = contours.size(), outer = [];
    for (let i = 0; i < n; i++) if (hierarchy.data32S[4 * i + 3] < 0) outer.push(i);
    if (outer.length !== 1 || n > MAX_PIECES) return null; // one stroke; its holes, pinholes too, count as pieces
    if (Math.min(bw, bh) >= MIN_PANEL_PX) { // a solid box (its holes filled) holds the digit, for the search to find
      const filled = keep(cv.Mat.zeros(bh, bw, cv.CV_8UC1));
      cv.drawContours(filled, contours, outer[0], new cv.Scalar(1), cv.FILLED);
      if (cv.countNonZero(filled) >= PANEL * bw * bh) return null;
    }
    // The search's arithmetic: ink as a fraction of full scale, then of the digit's own peak.
    const scale = new Float32Array(256), ink = new Float32Array(bw * bh);
    for (let v = 0; v < 256; v++) scale[v] = Math.min(f32(f32(v / 255) / peak), 1);
    for (let i = 0; i < ink.length; i++) ink[i] = scale[up[i]];
    return { ink, width: bw, height: bh, box: [x0, y0, x0 + bw, y0 + bh], count: 1 };
  });
}

// find.py's one-tone test, cv2.dilate(core, the elliptic disc of radius REACH) covering every
// pixel of ink, asked only where it matters: each pixel of ink under `coreLevel` looks for a core
// pixel in the disc around it, nearest first (an anti-aliased edge finds one at once). The same
// answer as OpenCV.js's dilate of the whole box, which was the largest single cost of a drawing.
function oneTone(up, bw, bh, coreLevel) {
  const around = discOffsets();
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      const v = up[y * bw + x];
      if (v === 0 || v >= coreLevel) continue;
      let near = false;
      for (let k = 0; k < around.length && !near; k += 2) {
        const yy = y + around[k], xx = x + around[k + 1];
        near = yy >= 0 && yy < bh && xx >= 0 && xx < bw && up[yy * bw + xx] >= coreLevel;
      }
      if (!near) return false;
    }
  }
  return true;
}

// OpenCV's elliptic kernel of radius REACH as (dy, dx) pairs, nearest first, read once.
let disc = null;
function discOffsets() {
  if (disc) return disc;
  const side = 2 * REACH + 1;
  const pairs = scoped((keep) => {
    const k = keep(cv.getStructuringElement(cv.MORPH_ELLIPSE, new cv.Size(side, side))).data;
    const found = [];
    for (let r = 0; r < side; r++) for (let c = 0; c < side; c++) if (k[r * side + c]) found.push([r - REACH, c - REACH]);
    return found;
  });
  pairs.sort((a, b) => a[0] * a[0] + a[1] * a[1] - (b[0] * b[0] + b[1] * b[1]));
  disc = Int32Array.from(pairs.flat());
  return disc;
}

// A found digit's ink, summed: which of a group's columns has the most (preprocess.js sorts them by it too).
export function inkOf(item) {
  return item.ink.reduce((sum, v) => sum + v, 0);
}

// (width, height) scaled so that the longer side is WORK_SIDE (find.py: _work_size).
function workSize(width, height) {
  const longer = Math.max(width, height);
  return [Math.max(1, Math.floor((width * WORK_SIDE) / longer + 0.5)),
    Math.max(1, Math.floor((height * WORK_SIDE) / longer + 0.5))];
}

// findDigits on uint8 levels at the working size (find.py: _find).
function find(gray8, width, height, depth = 0) {
  return scoped((keep) => {
    const W = width, H = height;
    const { ink, edges } = inkImage(gray8, W, H, keep);
    let peak = peakOf(ink, H, W), contrast = peakOf(edges, H, W);
    if (peak < MIN_CONTRAST || contrast < MIN_EDGE) {
      // A small digit on a large page may be less of it than the percentile leaves out: its peak is
      // what the brightest few of its pixels reach.
      peak = topOf(ink);
      contrast = topOf(edges);
      if (peak < MIN_CONTRAST || contrast < MIN_EDGE) throw new NoDigitError("no digit found (blank or ink-less image)");
    }
    const level = f32(strokeLevel(ink, peak, keep));
    const strongData = new Uint8Array(W * H);
    for (let i = 0; i < strongData.length; i++) strongData[i] = ink[i] >= level ? 255 : 0;
    let strong = keep(cv.matFromArray(H, W, cv.CV_8UC1, strongData));
    const grains = cv.connectedComponents(strong, keep(new cv.Mat()), 8, cv.CV_32S) - 1;
    if (grains >= Math.max(GRAINS, GRAIN_DENSITY * W * H)) throw new NoDigitError(NOISE);
    if (Math.min(W, H) >= MIN_PHOTO_SIDE) strong = grow(strong, ink, f32(WEAK * level), keep); // soft edges, chalk dust
    strong = removeLines(strong, Math.min(W, H), keep);
    let unjoined = strong; // before the closing (`unjoined` in find.py)
    const photo = Math.min(W, H) >= MIN_PHOTO_SIDE;
    if (photo) {
      const side = odd(GRAIN_GAP * Math.max(W, H));
      const closed = keep(new cv.Mat());
      const disc = keep(cv.getStructuringElement(cv.MORPH_ELLIPSE, new cv.Size(side, side)));
      cv.morphologyEx(strong, closed, cv.MORPH_CLOSE, disc);
      strong = closed;
      const shadow = shadowOf(strong, ink, W, H, keep); // a soft shadow that the strokes run into
      if (shadow) {
        const lit = keep(new cv.Mat());
        cv.subtract(strong, shadow, lit);
        strong = lit;
        const joined = keep(new cv.Mat());
        cv.bitwise_and(unjoined, strong, joined);
        unjoined = joined;
      }
    }
    const labels = keep(new cv.Mat()), stats = keep(new cv.Mat()), centroids = keep(new cv.Mat());
    const count = cv.connectedComponentsWithStats(strong, labels, stats, centroids, 8, cv.CV_32S);
    if (count <= 1) throw new NoDigitError("no digit found (too little ink)");
    const label = labels.data32S, stat = stats.data32S;
    const mass = new Float64Array(count);
    for (let i = 0; i < label.length; i++) mass[label[i]] += ink[i];
    // Each component's pixels on the frame, per side, and in all.
    const [left, right, top, bottom] = [0, 1, 2, 3].map(() => new Float64Array(count));
    for (let y = 0; y < H; y++) { left[label[y * W]]++; right[label[y * W + W - 1]]++; }
    for (let x = 0; x < W; x++) { top[label[x]]++; bottom[label[(H - 1) * W + x]]++; }
    const contact = left.map((n, c) => n + right[c] + top[c] + bottom[c]);
    // Per component c (1..count-1): lines across, a ring round the page, slivers along the frame.
    const margin = Math.max(1, Math.trunc(MARGIN * Math.min(H, W)));
    const nearEdge = new Float64Array(count);
    for (let y = 0; y < H; y++) {
      if (y < margin || y >= H - margin) {
        for (let x = 0; x < W; x++) nearEdge[label[y * W + x]]++;
      } else {
        for (let x = 0; x < Math.min(margin, W); x++) nearEdge[label[y * W + x]]++;
        for (let x = Math.max(W - margin, margin); x < W; x++) nearEdge[label[y * W + x]]++;
      }
    }
    const fillsC = [], thinC = [], sliver = [], hugsC = [];
    let any = false;
    for (let c = 1; c < count; c++) {
      const cw = stat[5 * c + 2], ch = stat[5 * c + 3], area = stat[5 * c + 4];
      const sw = cw / W, sh = ch / H;
      const line = (sw >= ACROSS && sh <= 1 - ACROSS) || (sh >= ACROSS && sw <= 1 - ACROSS);
      const ring = contact[c] >= RING * 2 * (H + W) && photo;
      fillsC[c] = sw >= FILLS && sh >= FILLS;
      const length = Math.max(cw, ch);
      thinC[c] = area <= SLIVER * Math.max(H, W) * length && photo;
      hugsC[c] = nearEdge[c] >= HUGS * area && photo;
      sliver[c] = contact[c] >= HUG * length && thinC[c] && (!fillsC[c] || hugsC[c]);
      if (line || ring) mass[c] = 0;
    }
    let rest = false;
    for (let c = 1; c < count; c++) if (mass[c] && !sliver[c]) rest = true;
    if (rest) for (let c = 1; c < count; c++) if (sliver[c]) mass[c] = 0;
    // A soft shadow as dark as the ink: its edges rise SOFT times as slowly as the sharpest one's (find.py).
    if (photo) {
      let heaviest = 0;
      for (let c = 1; c < count; c++) heaviest = Math.max(heaviest, mass[c]);
      const considered = [];
      for (let c = 1; c < count; c++) if (mass[c] >= SPECK * heaviest) considered.push(c);
      if (considered.length > 1) {
        const rise = riseOf(strong, label, ink, W, H, count, keep);
        const least = Math.min(...considered.map((c) => rise[c]));
        for (const c of considered) if (rise[c] > SOFT * least) mass[c] = 0;
      }
    }
    // A band across the whole picture along a side of the frame: beyond the page or a panel (find.py).
    const beyond = [];
    let besides = false; // a component with ink that is no such band
    for (let c = 1; c < count; c++) {
      beyond[c] = photo && ((stat[5 * c + 3] / H >= ACROSS && Math.max(left[c], right[c]) >= ACROSS * H)
        || (stat[5 * c + 2] / W >= ACROSS && Math.max(top[c], bottom[c]) >= ACROSS * W));
      if (mass[c] && !beyond[c]) besides = true;
    }
    if (besides) for (let c = 1; c < count; c++) if (beyond[c]) mass[c] = 0;
    let most = 0;
    for (let c = 1; c < count; c++) { if (mass[c]) any = true; most = Math.max(most, mass[c]); }
    if (!any) throw new NoDigitError("no digit found (only lines)");
    const kept = [];
    for (let c = 1; c < count; c++) if (mass[c] >= SPECK * most) kept.push(c);
    const boxes = kept.map((c) => [stat[5 * c], stat[5 * c + 1], stat[5 * c + 2], stat[5 * c + 3]]);
    const touches = kept.map((c) => contact[c]);
    const frameSide = FRAME_CONTACT * Math.min(H, W);
    let big = -1, bigMass = 0;
    for (let k = 0; k < kept.length; k++) {
      if (touches[k] < frameSide && mass[kept[k]] > bigMass) { big = k; bigMass = mass[kept[k]]; }
    }
    if (big < 0) {
      big = 0;
      for (let k = 1; k < kept.length; k++) if (mass[kept[k]] > mass[kept[big]]) big = k;
    }
    const along = kept.map((c, k) => touches[k] >= frameSide && thinC[c] && !fillsC[c]);
    // A picture smaller than a photo is one digit's own canvas: all its ink is that digit.
    const gap = photo ? GROUP_GAP * Math.max(boxes[big][2], boxes[big][3]) : Math.max(H, W);
    const groups = group(boxes, gap, along);
    let groupMass = groups.map((g) => g.reduce((sum, k) => sum + mass[kept[k]], 0));
    const extents = groups.map((g) => {
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const k of g) {
        const [x, y, w, h] = boxes[k];
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + w); y1 = Math.max(y1, y + h);
      }
      return [x0, y0, x1, y1];
    });
    const fills = extents.map(([x0, y0, x1, y1]) => x1 - x0 >= FILLS * W && y1 - y0 >= FILLS * H);
    const touching = groups.map((g) => g.reduce((sum, k) => sum + touches[k], 0) >= frameSide);
    const hugging = groups.map((g) => g.reduce((sum, k) => sum + nearEdge[kept[k]], 0) >=
      HUGS * g.reduce((sum, k) => sum + stat[5 * kept[k] + 4], 0) && photo);
    const frame = touching.map((t, i) => t && (!fills[i] || hugging[i]));
    if (groupMass.some((m, i) => m * !frame[i])) groupMass = groupMass.map((m, i) => m * !frame[i]);
    const inner = groupMass.map((m, i) => (touching[i] ? 0 : m));
    const innerMax = Math.max(...inner);
    if (inner.some((m) => m) && innerMax >= INSIDE_SHARE * Math.max(...groupMass)) groupMass = inner;
    const order = groupMass.map((m, i) => [m, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map((p) => p[1]);
    let others = 0;
    for (const i of order.slice(1)) if (groupMass[i] >= OTHER_DIGIT * groupMass[order[0]]) others++;
    // The digit of a group of strokes (`k` indices into `kept`), cropped (find.py: digit).
    const digitOf = (best, count) => {
      const members = new Set(best.map((k) => kept[k]));
      let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
      for (const k of best) {
        const [x, y, bw, bh] = boxes[k];
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + bw); y1 = Math.max(y1, y + bh);
      }
      // The group lies in its box: its mask is made there only.
      const bw = x1 - x0, bh = y1 - y0;
      const member = new Uint8Array(bw * bh);
      for (let y = 0; y < bh; y++) {
        for (let x = 0; x < bw; x++) member[y * bw + x] = members.has(label[(y + y0) * W + x + x0]) ? 1 : 0;
      }
      const held = depth < NESTING && Math.min(bw, bh) >= MIN_PANEL_PX ? panelOf(member, ink, W, H, x0, y0, x1, y1, keep) : null;
      if (held) {
        // Searched as it is, a panel askew in its box, or one whose edge or rim the search takes for the digit, is
        // searched again with what lies outside it in the tone of its edge (find.py: digit).
        const { mask: panel, box: [px0, py0, px1, py1] } = held;
        const pw = px1 - px0, ph = py1 - py0;
        const crop = new Uint8Array(pw * ph);
        for (let y = 0; y < ph; y++) for (let x = 0; x < pw; x++) crop[y * pw + x] = gray8[(y + py0) * W + x + px0];
        const turned = countOf(panel) < PANEL * pw * ph;
        let found = turned ? null : insidePanel(crop, pw, ph);
        if (turned || (found && edge(found.box, pw, ph))) {
          const inner = keep(new cv.Mat());
          const cross = keep(cv.getStructuringElement(cv.MORPH_CROSS, new cv.Size(3, 3)));
          cv.erode(keep(cv.matFromArray(ph, pw, cv.CV_8UC1, panel)), inner, cross, new cv.Point(-1, -1), 1,
            cv.BORDER_CONSTANT, new cv.Scalar(0));
          const hist = new Uint32Array(256), e = inner.data;
          for (let i = 0; i < panel.length; i++) if (panel[i] > e[i]) hist[crop[i]]++;
          const tone = percentile(hist, 50); // the edge's lower median
          const toned = Uint8Array.from(crop);
          for (let i = 0; i < panel.length; i++) if (!panel[i]) toned[i] = tone;
          found = insidePanel(toned, pw, ph, depth + 1);
        }
        // What is still the panel's edge or rim, or a plain blob, its empty middle: the group is the digit.
        if (found && !(edge(found.box, pw, ph) || middle(found, pw, ph, keep))) {
          return moved(found, px0, py0);
        }
      }
      const inBox = new Uint8Array(bw * bh);
      const strongFinal = strong.data;
      for (let y = 0; y < bh; y++) {
        for (let x = 0; x < bw; x++) inBox[y * bw + x] = member[y * bw + x] && strongFinal[(y + y0) * W + x + x0] ? 1 : 0;
      }
      if (pieces(keep(cv.matFromArray(bh, bw, cv.CV_8UC1, inBox)), keep) > MAX_PIECES) {
        throw new NoDigitError(NOISE);
      }
      const box = [x0, y0, x1, y1];
      // The group's own strokes with the soft ink around them: its mask dilated in the box and REACH around it.
      const cx0 = Math.max(x0 - REACH, 0), cy0 = Math.max(y0 - REACH, 0);
      const cx1 = Math.min(x1 + REACH, W), cy1 = Math.min(y1 + REACH, H);
      const cw = cx1 - cx0, ch = cy1 - cy0;
      const around = new Uint8Array(cw * ch);
      for (let y = 0; y < bh; y++) around.set(member.subarray(y * bw, (y + 1) * bw), (y + y0 - cy0) * cw + x0 - cx0);
      const near = keep(new cv.Mat());
      const disc = keep(cv.getStructuringElement(cv.MORPH_ELLIPSE, new cv.Size(2 * REACH + 1, 2 * REACH + 1)));
      cv.dilate(keep(cv.matFromArray(ch, cw, cv.CV_8UC1, around)), near, disc);
      const crop = new Float32Array(cw * ch);
      const nearData = near.data;
      for (let y = 0; y < ch; y++) {
        for (let x = 0; x < cw; x++) crop[y * cw + x] = f32(ink[(y + cy0) * W + x + cx0] * nearData[y * cw + x]);
      }
      fillJoined(crop, cw, cx0, cy0, ink, W, member, bw, bh, x0, y0, unjoined, keep);
      let local = 0;
      for (let i = 0; i < crop.length; i++) if (crop[i] > local) local = crop[i];
      if (local > 0) {
        const scale = f32(local);
        for (let i = 0; i < crop.length; i++) crop[i] = Math.min(f32(crop[i] / scale), 1);
      }
      return { ink: crop, width: cw, height: ch, box, count, parts: [] };
    };
    // The group's tall columns, where they hold nearly all its ink, may be several digits written close
    // together (a number typed on one line): they come with the digit as its `parts` (find.py: split).
    const best = groups[order[0]];
    const seen = 1 + others;
    let whole = null, refused = null;
    try {
      whole = digitOf(best, seen);
    } catch (error) {
      if (!(error instanceof NoDigitError)) throw error;
      refused = error;
    }
    const groupHeight = extents[order[0]][3] - extents[order[0]][1];
    const strokes = best.map((k) => boxes[k]);
    const tall = columns(strokes).filter((c) => {
      let top = Infinity, bottom = -Infinity;
      for (const i of c) { top = Math.min(top, strokes[i][1]); bottom = Math.max(bottom, strokes[i][1] + strokes[i][3]); }
      return bottom - top >= DIGIT_HEIGHT * groupHeight;
    });
    const weight = (c) => c.reduce((sum, i) => sum + mass[kept[best[i]]], 0);
    const all = best.reduce((sum, k) => sum + mass[kept[k]], 0);
    const splits = tall.length > 1 && tall.reduce((sum, c) => sum + weight(c), 0) >= NUMBER_INK * all;
    if (whole === null && !splits) throw refused;
    const parts = [];
    for (const c of splits ? tall : []) {
      try {
        parts.push(digitOf(c.map((i) => best[i]), seen));
      } catch (error) {
        if (!(error instanceof NoDigitError)) throw error;
      }
    }
    if (whole === null) {
      // Too many pieces for one digit, but standing in columns that are digits (a long number typed
      // on one line): the digit with the most ink, as for digits standing apart (find.py: split).
      if (parts.length < 2) throw new NoDigitError(NOISE);
      let heaviest = parts[0];
      for (const part of parts) if (inkOf(part) > inkOf(heaviest)) heaviest = part;
      return { ...heaviest, count: seen - 1 + parts.length, parts: [] };
    }
    return parts.length > 1 ? { ...whole, parts: readingOrder(parts) } : whole;
  });
}

// Indices of stroke boxes (x, y, w, h) grouped into digits (find.py: _columns): transitively, strokes
// that overlap side by side by COLUMN_OVERLAP of the narrower one and lie within LINE_GAP of the
// tallest one's height above or below each other.
function columns(strokes) {
  const tallest = Math.max(...strokes.map((b) => b[3]));
  return unions(strokes.length, (i, j) => {
    const [a, b] = [strokes[i], strokes[j]];
    const overlap = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
    return overlap >= COLUMN_OVERLAP * Math.min(a[2], b[2]) && apart(a, b, 1) <= LINE_GAP * tallest;
  });
}

// The items 0..n-1 grouped transitively by `joined(i, j)` (i < j), each group in index order, the
// groups in the order of their first items (find.py: _unions).
function unions(n, joined) {
  const parent = Array.from({ length: n }, (_, i) => i);
  const root = (i) => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (joined(i, j)) parent[root(i)] = root(j);
  const groups = new Map();
  for (let i = 0; i < n; i++) {
    const r = root(i);
    if (!groups.has(r)) groups.set(r, []);
    groups.get(r).push(i);
  }
  return [...groups.values()];
}

// Digits in reading order (find.py: _reading_order): lines from top to bottom (a digit whose middle
// lies within a line's height belongs to it), each line left to right.
function readingOrder(found) {
  const lines = [];
  for (const item of [...found].sort((a, b) => a.box[1] - b.box[1])) {
    const middle = (item.box[1] + item.box[3]) / 2;
    const line = lines.find((l) => Math.min(...l.map((o) => o.box[1])) <= middle && middle <= Math.max(...l.map((o) => o.box[3])));
    if (line) line.push(item);
    else lines.push([item]);
  }
  return lines.flatMap((line) => line.sort((a, b) => a.box[0] - b.box[0]));
}

// The same digit (and its parts) with its box moved by (dx, dy) (find.py: _moved).
function moved(found, dx, dy) {
  const [l, t, r, b] = found.box;
  return { ...found, box: [l + dx, t + dy, r + dx, b + dy], parts: (found.parts ?? []).map((part) => moved(part, dx, dy)) };
}

// Where the closing joined grains (chalk, a dry marker), the gaps between them are stroke too: they
// get the grains' typical ink (their median), so that the digit reads as drawn, not as a texture.
function fillJoined(crop, cw, cx0, cy0, ink, W, member, bw, bh, x0, y0, unjoinedMat, keep) {
  const unjoined = unjoinedMat.data; // read now: a view of OpenCV's heap, which later allocations may move
  const grains = new Uint8Array(bw * bh);
  let joined = false;
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      if (!member[y * bw + x]) continue;
      if (unjoined[(y + y0) * W + x + x0]) grains[y * bw + x] = 1;
      else joined = true;
    }
  }
  if (!joined) return;
  const count = cv.connectedComponents(keep(cv.matFromArray(bh, bw, cv.CV_8UC1, grains)), keep(new cv.Mat()), 8,
    cv.CV_32S) - 1;
  if (count < GRAINY) return;
  const values = [];
  for (let y = 0; y < bh; y++) for (let x = 0; x < bw; x++) if (grains[y * bw + x]) values.push(ink[(y + y0) * W + x + x0]);
  const sorted = Float32Array.from(values).sort();
  const n = sorted.length;
  const typical = n % 2 ? sorted[(n - 1) / 2] : f32((sorted[n / 2 - 1] + sorted[n / 2]) / 2);
  for (let y = 0; y < bh; y++) {
    for (let x = 0; x < bw; x++) {
      if (!member[y * bw + x] || grains[y * bw + x]) continue;
      const j = (y + y0 - cy0) * cw + x + x0 - cx0;
      if (crop[j] < typical) crop[j] = typical;
    }
  }
}
