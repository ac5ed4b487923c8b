// Turn a picture of a digit into the 28x28 input the model was trained on, in the browser.
//
// One spec, two implementations: this file mirrors runtime/preprocess.py step by step (the
// digit from find.js, the twin of runtime/find.py; crop at 20% of its peak, Pillow's resampling
// to a 20 px box, contrast and outline fill (strokes.js), centre by mass in 28x28; a 28x28 canvas
// already in MNIST's form is only centred, asMnist). Decoding is
// decode.js, the twin of runtime/decode.py.
// tests/web/test_browser.py holds them together: it runs
// the same image files through both and reports the largest difference of the 28x28 tensors.
// Change one, change the other.

import { reduceRgba, rgbaToGray, rgbaToLevels } from "./decode.js";
import { MIN_CONTRAST, NoDigitError, findDigits, inkOf, loadFinder, roundHalfEven } from "./find.js";
import { fillOutline, restoreContrast } from "./strokes.js";

export { NoDigitError, loadFinder };

export const SIZE = 28;
const DIGIT_BOX = 20;
const MIN_SIDE = 8;
const INK_THRESHOLD = 0.2;
const MNIST_BOX = [DIGIT_BOX - 1, DIGIT_BOX];

export class InputError extends Error {}

const f32 = Math.fround;


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
    // Each output's taps summed left to right, as Pillow does, visiting only the pixels that are
    // not 0 (a 0 adds nothing to a sum, so the sums are the same to the bit): a drawing's crop is
    // mostly paper. first[x]..last[x] are the outputs whose taps reach pixel x.
    // taps[x * outW + xx] is output xx's weight of pixel x (laid out by pixel, for this loop).
    const first = new Int32Array(width).fill(outW), last = new Int32Array(width).fill(-1);
    const taps = new Float64Array(width * outW);
    coeffs.forEach(({ xmin, k }, xx) => {
      for (let x = xmin; x < xmin + k.length; x++) {
        if (xx < first[x]) first[x] = xx;
        last[x] = xx;
        taps[x * outW + xx] = k[x - xmin];
      }
    });
    const tmp = new Float32Array(outW * height), sums = new Float64Array(outW);
    for (let y = 0; y < height; y++) {
      sums.fill(0);
      for (let x = 0; x < width; x++) {
        const v = data[y * w + x];
        if (v === 0) continue;
        for (let xx = first[x]; xx <= last[x]; xx++) sums[xx] += v * taps[x * outW + xx];
      }
      for (let xx = 0; xx < outW; xx++) tmp[y * outW + xx] = sums[xx];
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

// RGBA pixels of any size -> Float32Array(784): the model input, ink in [0, 1], light on dark
// (runtime/preprocess.py `prepare_image`: decode, find the digit, the MNIST recipe).
export function preprocessRgba(rgba, width, height) {
  return prepareRgba(rgba, width, height).tensor;
}

// The same, with how many separate digits the picture shows.
export function prepareRgba(rgba, width, height) {
  if (Math.max(width, height) < MIN_SIDE) {
    throw new InputError(`image is ${width}x${height} pixels; too small to hold a digit`);
  }
  const reduced = reduceRgba(rgba, width, height);
  // An opaque picture's levels go to the finder as they are (its own uint8 form); the others' luminance.
  const { data, width: w, height: h } = reduced;
  return prepareGray(rgbaToLevels(data, w, h) ?? rgbaToGray(data, w, h), w, h);
}

// A 28x28 picture already in MNIST's form -> its model input, else null (as_mnist): the ink box
// 20 px on its longer side, on a field of exactly 0 (or, inverted, exactly 1); only centred by mass.
export function asMnist(gray, width, height) {
  if (width !== SIZE || height !== SIZE) return null;
  let zeros = 0, ones = 0;
  for (let i = 0; i < gray.length; i++) {
    if (gray[i] === 0) zeros++;
    else if (gray[i] === 1) ones++;
  }
  let ink = gray;
  if (2 * ones >= gray.length && 2 * zeros < gray.length) {
    ink = new Float32Array(gray.length);
    for (let i = 0; i < gray.length; i++) ink[i] = f32(1 - gray[i]);
  } else if (2 * zeros < gray.length) {
    return null;
  }
  let top = SIZE, bottom = -1, left = SIZE, right = -1;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      if (ink[y * SIZE + x] > 0) {
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  if (bottom < 0 || !MNIST_BOX.includes(Math.max(bottom - top, right - left) + 1)) return null;
  const h = bottom - top + 1, w = right - left + 1;
  const data = new Float32Array(h * w);
  let peak = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    data[y * w + x] = ink[(y + top) * SIZE + x + left];
    peak = Math.max(peak, data[y * w + x]);
  }
  if (peak < MIN_CONTRAST) return null; // near blank: the finder says so (as_mnist)
  return centerByMass({ data, width: w, height: h });
}

// Float32Array luminance in [0, 1], or a Uint8Array of its levels (0-255) -> { tensor, digits, parts }:
// `parts`, where the digit found may be several digits standing apart on one line, their model
// inputs, the one with the most ink first (null otherwise: preprocess.py `Prepared`).
export function prepareGray(gray, width, height) {
  const canvas = asMnist(gray instanceof Uint8Array && gray.length === SIZE * SIZE
    ? Float32Array.from(gray, (v) => f32(v / 255)) : gray, width, height);
  if (canvas !== null) return { tensor: canvas, digits: 1, parts: null };
  const found = findDigits(gray, width, height);
  const recipe = (item) => centerByMass(fillOutline(restoreContrast(cropAndScale(item.ink, item.width, item.height))));
  const parts = [];
  const columns = found.parts ?? []; // (a clean canvas's digit has none)
  const heaviest = apart(columns) ? [...columns].sort((a, b) => inkOf(b) - inkOf(a)) : [];
  for (const part of heaviest) {
    try {
      parts.push(recipe(part));
    } catch (error) {
      if (!(error instanceof NoDigitError)) throw error; // too little ink to scale: not one of the digits
    }
  }
  return { tensor: recipe(found), digits: found.count, parts: parts.length > 1 ? parts : null };
}

// Digits that stand apart, each with a gap before the next (preprocess.py `_apart`).
function apart(parts) {
  const boxes = [...parts].map((part) => part.box).sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3]);
  return boxes.every((box, i) => i === 0 || boxes[i - 1][2] < box[0]);
}
