// The page: draw or drop a digit, preprocess it (preprocess.js, the twin of runtime/preprocess.py),
// and run the bundled int8 ONNX with onnxruntime-web's WebAssembly backend, after checking the
// model's sha256 against the package's manifest, as the Python runtime does.
import * as ort from "./vendor/ort.wasm.min.mjs";
import { loadOpenCV } from "./vendor/opencv/index.js";
import { InputError, NoDigitError, SIZE, loadFinder, prepareRgba, preprocessRgba } from "./preprocess.js";

const MODEL = "models/model_int8.onnx";
const MANIFEST = "models/manifest.json";
const MIN_CONFIDENCE = 0.6; // below this the answer is shown as uncertain: "7?"

ort.env.wasm.wasmPaths = new URL("./vendor/", import.meta.url).href; // absolute: resolved from this page
ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a plain static server lacks

const $ = (id) => document.getElementById(id);
let session = null;
let latest = 0; // the newest input's turn: an older picture that finishes later is not shown over it
let pending = null; // the newest input given while the model loads, read once it is ready
let answered = 0; // answers and errors shown (for the browser tests)
let filesSettled = 0; // files whose turn has ended, shown or not (for the browser tests)

async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// Fetch the model, refuse it unless its size and sha256 match the manifest, then open it.
export async function loadModel(modelUrl = MODEL, manifestUrl = MANIFEST) {
  const manifest = await (await fetch(manifestUrl, { cache: "no-store" })).json();
  const name = modelUrl.split("/").pop();
  const entry = manifest.files && manifest.files[name];
  if (!entry) throw new Error(`${name} is not listed in the manifest`);
  const bytes = await (await fetch(modelUrl, { cache: "no-store" })).arrayBuffer();
  const digest = await sha256Hex(bytes);
  if (bytes.byteLength !== entry.size_bytes || digest !== entry.sha256) {
    throw new Error(`model integrity check failed: ${name} has sha256 ${digest.slice(0, 12)}… but the ` +
      `manifest says ${String(entry.sha256).slice(0, 12)}…; the file was modified or truncated. Rebuild the page.`);
  }
  const created = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  return { session: created, digest, entry };
}

// 784 floats -> 10 probabilities, or 11 with "not a digit" last (the model's labels, in the manifest).
export async function classifyTensor(tensor, active = session) {
  const input = new ort.Tensor("float32", tensor, [1, SIZE, SIZE, 1]);
  const outputs = await active.run({ [active.inputNames[0]]: input });
  return Array.from(outputs[active.outputNames[0]].data);
}

// A canvas holds at most this many pixels in every common browser (Safari's limit; Chromium's is
// larger): past its own limit a browser draws nothing, and the picture would read as blank paper.
const CANVAS_PIXELS = 16_777_216;

// An image URL or Blob -> RGBA pixels, decoded by the browser (EXIF orientation applied). A picture
// over CANVAS_PIXELS is drawn smaller by a whole factor (the finder works at 640 px anyway; Python
// decodes such a JPEG at reduced scale too, so there the two paths may differ slightly).
export async function decode(source) {
  const blob = source instanceof Blob ? source : await (await fetch(source, { cache: "no-store" })).blob();
  const options = { colorSpaceConversion: "none", premultiplyAlpha: "none" };
  let bitmap = await createImageBitmap(blob, options);
  const factor = Math.ceil(Math.sqrt(bitmap.width * bitmap.height / CANVAS_PIXELS));
  if (factor > 1) {
    const [width, height] = [Math.ceil(bitmap.width / factor), Math.ceil(bitmap.height / factor)];
    bitmap.close();
    bitmap = await createImageBitmap(blob, { ...options, resizeWidth: width, resizeHeight: height, resizeQuality: "high" });
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  return context.getImageData(0, 0, bitmap.width, bitmap.height);
}

// How many frames an animated picture holds (1 where the browser cannot tell): like the Python
// runtime, the page classifies the first and says so.
async function frameCount(blob) {
  if (!("ImageDecoder" in window) || !/^image\/(gif|png|apng|webp)$/.test(blob.type)) return 1;
  try {
    const decoder = new ImageDecoder({ data: await blob.arrayBuffer(), type: blob.type });
    await decoder.tracks.ready;
    const frames = decoder.tracks.selectedTrack?.frameCount ?? 1;
    decoder.close();
    return frames;
  } catch {
    return 1;
  }
}

const DIGITS = 10;

// The answer the Python runtime gives (runtime/model.py to_prediction): "not a digit" on top is
// "no digit found"; otherwise the best digits, their probabilities out of the whole row.
export function answer(probabilities) {
  const order = probabilities.map((p, i) => [i, p]).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  if (order[0][0] >= DIGITS) {
    return { noDigit: `no digit found (the model answers "not a digit", ${(order[0][1] * 100).toFixed(1)}%)` };
  }
  return { order: order.filter(([i]) => i < DIGITS) };
}

// A picture's model rows (its digit, then the digits it may instead be) -> the index of the row to answer
// (runtime/model.py `_choose`, `_apart_digits`): a group that may be several digits written apart on one
// line is read as those, the one with the most ink answered, where the model answers none of them "not a
// digit", and the whole "not a digit" or each of them more surely than the whole.
export function choose(rows) {
  const refuses = (row) => row.length > DIGITS && answer(row).noDigit !== undefined;
  const best = (row) => Math.max(...row.slice(0, DIGITS));
  if (rows.length < 2 || rows.slice(1).some(refuses)) return 0;
  return refuses(rows[0]) || Math.min(...rows.slice(1).map(best)) > best(rows[0]) ? 1 : 0;
}

function show(probabilities, timings, tensor, digits = 1, note = "") {
  const given = answer(probabilities);
  if (given.noDigit) {
    showError([given.noDigit, note].filter(Boolean).join("; "));
    drawSeen(tensor);
    return;
  }
  answered++;
  const order = given.order;
  const [label, top] = order[0];
  const uncertain = top < MIN_CONFIDENCE;
  $("answer").textContent = uncertain ? `${label}?` : String(label);
  $("answer").className = uncertain ? "answer uncertain" : "answer";
  $("answer").dataset.label = String(label);
  $("answer").dataset.uncertain = String(uncertain);
  $("bars").innerHTML = order.slice(0, 3).map(([digit, p]) =>
    `<li><span>${digit}</span><span class="track"><span class="bar" style="display:block;width:${(p * 100).toFixed(1)}%"></span></span>` +
    `<span>${(p * 100).toFixed(1)}%</span></li>`).join("");
  $("status").className = "status";
  const several = digits > 1 ? `found ${digits} digits: the one with the most ink was classified` : "";
  $("status").textContent = [uncertain ? `uncertain: the best guess has ${(top * 100).toFixed(0)}%` : "", several, note]
    .filter(Boolean).join("; ");
  $("timing").textContent = `inference ${timings.inference.toFixed(2)} ms, preprocessing ${timings.preprocess.toFixed(2)} ms, in this browser`;
  drawSeen(tensor);
}

function drawSeen(tensor) {
  const seen = $("seen").getContext("2d");
  const image = seen.createImageData(SIZE, SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    const v = Math.round(tensor[i] * 255);
    image.data.set([v, v, v, 255], 4 * i);
  }
  const small = new OffscreenCanvas(SIZE, SIZE);
  small.getContext("2d").putImageData(image, 0, 0);
  seen.imageSmoothingEnabled = false;
  seen.drawImage(small, 0, 0, $("seen").width, $("seen").height);
}

function showError(message) {
  answered++;
  $("answer").textContent = "–";
  $("answer").dataset.label = "";
  $("bars").innerHTML = "";
  $("timing").textContent = "";
  $("status").className = "status error";
  $("status").textContent = message;
}

function showStatus(message) {
  $("status").className = "status";
  $("status").textContent = message;
}

function clearSeen() {
  const seen = $("seen").getContext("2d");
  seen.fillStyle = "#000";
  seen.fillRect(0, 0, $("seen").width, $("seen").height);
}

// Let the browser paint a status line before a long step (a hidden tab paints no frame: 100 ms at most).
const painted = () => new Promise((resolve) => {
  requestAnimationFrame(() => setTimeout(resolve, 0));
  setTimeout(resolve, 100);
});

// Classify decoded pixels as input number `turn`; only the newest input's answer is shown.
async function classifyPixels(imageData, turn = ++latest, note = "") {
  if (!session) {
    pending = { imageData, turn, note };
    showStatus("The model is still loading: your picture will be read as soon as it is ready.");
    return;
  }
  try {
    const start = performance.now();
    const { tensor, digits, parts } = prepareRgba(imageData.data, imageData.width, imageData.height);
    const prepared = performance.now();
    const tensors = [tensor, ...(parts ?? [])];
    const rows = [];
    for (const t of tensors) rows.push(await classifyTensor(t));
    const done = performance.now();
    if (turn !== latest) return;
    const chosen = choose(rows);
    show(rows[chosen], { preprocess: prepared - start, inference: done - prepared }, tensors[chosen],
      chosen ? digits - 1 + parts.length : digits, note);
  } catch (error) {
    if (turn !== latest) return;
    if (error instanceof NoDigitError || error instanceof InputError) showError([error.message, note].filter(Boolean).join("; "));
    else showError(`could not classify this picture (${error?.message ?? error}); reload the page and try again`);
  }
}

function setUpPad() {
  const pad = $("pad");
  const context = pad.getContext("2d", { willReadFrequently: true });
  const clear = () => {
    latest++; // an answer still on its way belongs to what was cleared
    context.fillStyle = "#fff";
    context.fillRect(0, 0, pad.width, pad.height);
    $("answer").textContent = "–";
    $("answer").dataset.label = "";
    $("bars").innerHTML = "";
    $("timing").textContent = "";
    clearSeen();
    if (session) showStatus("Ready: draw a digit.");
  };
  clear();
  context.lineCap = "round";
  context.lineJoin = "round";
  context.lineWidth = 20;
  context.strokeStyle = "#111";
  let drawing = false;
  const at = (event) => {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * (pad.width / box.width), (event.clientY - box.top) * (pad.height / box.height)];
  };
  pad.addEventListener("pointerdown", (event) => {
    drawing = true;
    pad.setPointerCapture?.(event.pointerId);
    context.beginPath();
    context.moveTo(...at(event));
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    context.lineTo(...at(event));
    context.stroke();
  });
  const finish = () => {
    if (!drawing) return;
    drawing = false;
    classifyPixels(context.getImageData(0, 0, pad.width, pad.height));
  };
  pad.addEventListener("pointerup", finish);
  pad.addEventListener("pointerleave", finish);
  $("clear").addEventListener("click", clear);

  const fromFile = (file) => readFile(file).finally(() => filesSettled++);
  const readFile = async (file) => {
    if (!file) return;
    const turn = ++latest;
    if (file.size === 0) {
      showError(`${file.name}: empty file (0 bytes)`);
      return;
    }
    showStatus(`Reading ${file.name}…`);
    await painted();
    let pixels, frames;
    try {
      [pixels, frames] = await Promise.all([decode(file), frameCount(file)]);
    } catch {
      if (turn === latest) showError(`${file.name}: not an image this browser can decode (a corrupt or truncated file, or another format); try a PNG or a JPEG`);
      return;
    }
    if (turn !== latest) return;
    await classifyPixels(pixels, turn, frames > 1 ? `animated image with ${frames} frames: the first frame was classified` : "");
  };
  $("file").addEventListener("change", (event) => {
    fromFile(event.target.files[0]);
    event.target.value = ""; // choosing the same file again reads it again
  });
  pad.addEventListener("dragover", (event) => { event.preventDefault(); pad.classList.add("dragging"); });
  pad.addEventListener("dragleave", () => pad.classList.remove("dragging"));
  pad.addEventListener("drop", (event) => {
    event.preventDefault();
    pad.classList.remove("dragging");
    fromFile(event.dataTransfer.files[0]);
  });
}

// The first preprocessing and the first inference pay for compiling the JavaScript and the
// WebAssembly (several times a later call: docs/browser.md): pay that while the page loads, on a
// drawn 7 the size of the pad, rather than on the user's first digit. The JavaScript engine
// optimises a function only after a few calls, so the preprocessing runs five times (a few ms each).
async function warmUp() {
  const side = 280, rgba = new Uint8ClampedArray(side * side * 4).fill(255);
  const ink = (x, y) => { for (let dy = -8; dy <= 8; dy++) for (let dx = -8; dx <= 8; dx++) {
    const i = ((y + dy) * side + x + dx) * 4; rgba[i] = rgba[i + 1] = rgba[i + 2] = 0; } };
  for (let t = 0; t <= 1; t += 1 / 200) { ink(Math.round(90 + 100 * t), 70); ink(Math.round(190 - 60 * t), Math.round(70 + 140 * t)); }
  try {
    for (let i = 0; i < 4; i++) preprocessRgba(rgba, side, side);
    await classifyTensor(preprocessRgba(rgba, side, side));
  } catch (error) {
    if (!(error instanceof NoDigitError || error instanceof InputError)) throw error;
  }
}

async function main() {
  setUpPad();
  try {
    const [loaded] = await Promise.all([loadModel(), loadFinder(loadOpenCV)]);
    session = loaded.session;
    await warmUp();
    $("status").textContent = "Ready: draw a digit.";
    if (pending && pending.turn === latest) classifyPixels(pending.imageData, pending.turn, pending.note);
    pending = null;
    $("integrity").textContent = `model_int8.onnx, sha256 ${loaded.digest.slice(0, 16)}… verified against the manifest; ` +
      `onnxruntime-web ${ort.env.versions?.web ?? ""} (WebAssembly)`;
    document.body.dataset.ready = "true";
  } catch (error) {
    showError(error.message);
    document.body.dataset.ready = "refused";
  }
}

// For the browser tests: the same functions the page uses, nothing else.
window.edgeDigits = { decode, preprocessRgba, prepareRgba, choose, classifyTensor: (t) => classifyTensor(t), loadModel,
  answered: () => answered, filesSettled: () => filesSettled };
main();
