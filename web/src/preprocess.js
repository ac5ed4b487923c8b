// Turn a picture of a digit into the 28x28 input the model was trained on, in the browser.
//
// One spec, two implementations: this file mirrors runtime/preprocess.py step by step
// (polarity from the border, robust ink peak, crop at 20% of the peak, Pillow's resampling to a
// 20 px box, contrast and outline fill (strokes.js), centre by mass in 28x28).
// tests/web/test_browser.py holds them together: it runs
// the same image files through both and reports the largest difference of the 28x28 tensors.
// Change one, change the other.

import { fillOutline, restoreContrast } from "./strokes.js";

export const SIZE = 28;
const DIGIT_BOX = 20;
const MIN_SIDE = 8;
const WORK_SIDE = 640;
const MIN_CONTRAST = 0.08;
const MAX_BORDER_SPREAD = 0.2;
const INK_THRESHOLD = 0.2;
const PEAK_PERCENTILE = 99.9;
const HISTOGRAM_BINS = 4096;

export class NoDigitError extends Error {}
export class InputError extends Error {}

const f32 = Math.fround;

// Python's round(): halves go to the even neighbour.
function roundHalfEven(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// RGBA bytes (ImageData) -> float32 luminance in [0, 1], like runtime.preprocess.image_to_gray:
// opaque pictures use Pillow's integer "L" conversion; transparent ones are composited onto
// the paper colour that contrasts with the strokes.
export function rgbaToGray(data, width, height) {
  const n = width * height;
  const gray = new Float32Array(n);
  let transparent = false;
  for (let i = 0; i < n; i++) if (data[4 * i + 3] < 255) { transparent = true; break; }
  if (!transparent) {
    for (let i = 0; i < n; i++) {
      const r = data[4 * i], g = data[4 * i + 1], b = data[4 * i + 2];
      gray[i] = f32(((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) / 255);
    }
    return gray;
  }
  const alpha = new Float32Array(n);
  const ink = [];
  for (let i = 0; i < n; i++) {
    const r = f32(data[4 * i] / 255), g = f32(data[4 * i + 1] / 255), b = f32(data[4 * i + 2] / 255);
    gray[i] = f32(f32(f32(r * f32(0.299)) + f32(g * f32(0.587))) + f32(b * f32(0.114)));
    alpha[i] = f32(data[4 * i + 3] / 255);
    if (alpha[i] > 0.5) ink.push(gray[i]);
  }
  const paper = ink.length && median(ink) < 0.5 ? 1 : 0;
  for (let i = 0; i < n; i++) gray[i] = f32(f32(gray[i] * alpha[i]) + f32(paper * f32(1 - alpha[i])));
  return gray;
}

function median(values) {
  const sorted = Float64Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// Ink intensity in [0, 1], light on dark, whatever the picture's polarity (normalize_polarity).
export function normalizePolarity(gray, width, height) {
  const border = [];
  for (let x = 0; x < width; x++) border.push(gray[x]);
  for (let x = 0; x < width; x++) border.push(gray[(height - 1) * width + x]);
  for (let y = 1; y < height - 1; y++) border.push(gray[y * width]);
  for (let y = 1; y < height - 1; y++) border.push(gray[y * width + width - 1]);
  border.sort((a, b) => a - b);
  const paper = border[border.length >> 1]; // the upper median, as numpy's partition at len // 2
  const n = border.length - 1;
  if (border[Math.floor((3 * n) / 4)] - border[Math.floor(n / 4)] > MAX_BORDER_SPREAD) {
    throw new NoDigitError("no digit found (the picture's edges are not plain paper; crop it closer to the digit)");
  }
  let low = Infinity, high = -Infinity;
  for (const v of gray) { if (v < low) low = v; if (v > high) high = v; }
  const darkOnLight = paper > 0.5 * (low + high);
  const ink = new Float32Array(gray.length);
  for (let i = 0; i < gray.length; i++) {
    const v = darkOnLight ? paper - gray[i] : gray[i] - paper;
    ink[i] = v > 0 ? v : 0;
  }
  const peak = robustPeak(ink, width, height);
  if (peak < MIN_CONTRAST) throw new NoDigitError("no digit found (blank or ink-less image)");
  const scale = f32(peak);
  for (let i = 0; i < ink.length; i++) ink[i] = Math.min(f32(ink[i] / scale), 1);
  return ink;
}

function robustPeak(ink, width, height) {
  if (ink.length <= 1000) {
    let peak = 0;
    for (const v of ink) if (v > peak) peak = v;
    return peak;
  }
  const step = ink.length > 250000 ? 2 : 1; // every second pixel in each direction, as [::2, ::2]
  const counts = new Float64Array(HISTOGRAM_BINS);
  let total = 0;
  for (let y = 0; y < height; y += step) {
    for (let x = 0; x < width; x += step) {
      counts[Math.trunc(f32(ink[y * width + x] * (HISTOGRAM_BINS - 1)))] += 1;
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

// Pillow's resampling filters and coefficients (libImaging/Resample.c), for float images.
const FILTERS = {
  bilinear: { support: 1.0, f: (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0) },
  lanczos: {
    support: 3.0,
    f: (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0),
  },
};

function sinc(x) {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

function coefficients(inSize, outSize, filter) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const result = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = new Float64Array(xmax);
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = filter.f((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    if (ww !== 0) for (let x = 0; x < xmax; x++) k[x] /= ww;
    result.push({ xmin, k });
  }
  return result;
}

// Image.fromarray(crop, "F").resize((outW, outH), filter): horizontal pass, then vertical.
function resizeFloat(src, width, height, outW, outH, filter) {
  let data = src, w = width;
  if (outW !== width) {
    const coeffs = coefficients(width, outW, filter);
    const tmp = new Float32Array(outW * height);
    for (let y = 0; y < height; y++) {
      for (let xx = 0; xx < outW; xx++) {
        const { xmin, k } = coeffs[xx];
        let ss = 0;
        for (let x = 0; x < k.length; x++) ss += data[y * w + x + xmin] * k[x];
        tmp[y * outW + xx] = ss;
      }
    }
    data = tmp;
    w = outW;
  }
  if (outH !== height) {
    const coeffs = coefficients(height, outH, filter);
    const tmp = new Float32Array(w * outH);
    for (let yy = 0; yy < outH; yy++) {
      const { xmin: ymin, k } = coeffs[yy];
      for (let x = 0; x < w; x++) {
        let ss = 0;
        for (let y = 0; y < k.length; y++) ss += data[(y + ymin) * w + x] * k[y];
        tmp[yy * w + x] = ss;
      }
    }
    data = tmp;
  }
  return data;
}

// Crop to the digit's bounding box and scale so the longer side is 20 px (crop_and_scale).
export function cropAndScale(ink, width, height) {
  let count = 0, top = height, bottom = -1, left = width, right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] >= INK_THRESHOLD) {
        count++;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  if (count < 2) throw new NoDigitError("no digit found (too little ink)");
  const h = bottom - top + 1, w = right - left + 1;
  const crop = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) crop[y * w + x] = ink[(y + top) * width + x + left];
  const scale = DIGIT_BOX / Math.max(h, w);
  const newH = Math.max(1, roundHalfEven(h * scale)), newW = Math.max(1, roundHalfEven(w * scale));
  const out = resizeFloat(crop, w, h, newW, newH, scale < 1 ? FILTERS.lanczos : FILTERS.bilinear);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(Math.max(out[i], 0), 1);
  return { data: out, width: newW, height: newH };
}

// Paste the digit into 28x28 with its centre of mass at the centre, as MNIST (center_by_mass).
export function centerByMass(digit) {
  const { data, width: w, height: h } = digit;
  let total = 0, my = 0, mx = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = data[y * w + x];
      total += v;
      my += v * y;
      mx += v * x;
    }
  }
  const cy = total > 0 ? my / total : (h - 1) / 2;
  const cx = total > 0 ? mx / total : (w - 1) / 2;
  const top = Math.min(Math.max(roundHalfEven(SIZE / 2 - cy), 0), SIZE - h);
  const left = Math.min(Math.max(roundHalfEven(SIZE / 2 - cx), 0), SIZE - w);
  const canvas = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) canvas[(y + top) * SIZE + x + left] = data[y * w + x];
  return canvas;
}

// Box-average by an integer factor (Pillow's Image.reduce) so the longer side stays >= WORK_SIDE.
function reduceRgba(data, width, height) {
  const factor = Math.floor(Math.max(width, height) / WORK_SIDE);
  if (factor < 2) return { data, width, height };
  const outW = Math.ceil(width / factor), outH = Math.ceil(height / factor);
  const out = new Uint8ClampedArray(outW * outH * 4);
  for (let yy = 0; yy < outH; yy++) {
    for (let xx = 0; xx < outW; xx++) {
      for (let c = 0; c < 4; c++) {
        let sum = 0, n = 0;
        for (let y = yy * factor; y < Math.min((yy + 1) * factor, height); y++) {
          for (let x = xx * factor; x < Math.min((xx + 1) * factor, width); x++) {
            sum += data[(y * width + x) * 4 + c];
            n++;
          }
        }
        out[(yy * outW + xx) * 4 + c] = Math.round(sum / n);
      }
    }
  }
  return { data: out, width: outW, height: outH };
}

// RGBA pixels of any size -> Float32Array(784): the model input, ink in [0, 1], light on dark.
export function preprocessRgba(rgba, width, height) {
  if (Math.min(width, height) < MIN_SIDE) {
    throw new InputError(`image is ${width}x${height} pixels; too small to hold a digit`);
  }
  const reduced = reduceRgba(rgba, width, height);
  const gray = rgbaToGray(reduced.data, reduced.width, reduced.height);
  const ink = normalizePolarity(gray, reduced.width, reduced.height);
  const digit = restoreContrast(cropAndScale(ink, reduced.width, reduced.height));
  return centerByMass(fillOutline(digit));
}
