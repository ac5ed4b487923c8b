// Decoded pixels -> float32 luminance in [0, 1], in the browser: the twin of runtime/decode.py.
//
// The browser decodes the file itself (app.js `decode`, EXIF orientation applied); this file does
// what runtime/decode.py does after Pillow's decode: box-reduce a large picture to the working
// resolution, and convert to luminance, compositing transparency onto the paper. Change one,
// change the other; tests/web/test_browser.py compares the two on the same files.

export const WORK_SIDE = 640;
const f32 = Math.fround;
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

// RGBA bytes (ImageData) -> float32 luminance in [0, 1], like runtime.preprocess.image_to_gray:
// opaque pictures use Pillow's integer "L" conversion; transparent ones are composited onto
// the paper colour that contrasts with the strokes.
export function rgbaToGray(data, width, height) {
  const n = width * height;
  const gray = new Float32Array(n);
  const levels = rgbaToLevels(data, width, height);
  if (levels) {
    for (let i = 0; i < n; i++) gray[i] = f32(levels[i] / 255);
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

// RGBA bytes -> Uint8Array of Pillow's "L" levels for an opaque picture (the levels that
// image_to_gray(levels=True) gives, which the finder works on); null for a transparent one.
export function rgbaToLevels(data, width, height) {
  const n = width * height, levels = new Uint8Array(n);
  if (LITTLE_ENDIAN && data.BYTES_PER_ELEMENT === 1 && data.byteOffset % 4 === 0 && data.length >= 4 * n) {
    // A pixel's four bytes at once: opaque is alpha 255, the top byte of a little-endian word.
    const words = new Uint32Array(data.buffer, data.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const p = words[i];
      if (p < 0xff000000) return null;
      levels[i] = ((p & 255) * 19595 + ((p >>> 8) & 255) * 38470 + ((p >>> 16) & 255) * 7471 + 0x8000) >> 16;
    }
    return levels;
  }
  for (let i = 0; i < n; i++) {
    if (data[4 * i + 3] < 255) return null;
    levels[i] = (data[4 * i] * 19595 + data[4 * i + 1] * 38470 + data[4 * i + 2] * 7471 + 0x8000) >> 16;
  }
  return levels;
}

function median(values) {
  const sorted = Float64Array.from(values).sort();
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// Box-average by an integer factor (Pillow's Image.reduce) so the longer side stays >= WORK_SIDE.
export function reduceRgba(data, width, height) {
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

