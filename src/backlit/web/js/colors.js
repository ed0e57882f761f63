// Palettes, from the server's schema (backlit.palette): the same colours the PNG plots use. Orange and
// green are reserved for gradients; classes and idle weight signs never use them. Until the schema
// arrives everything is drawn in neutral greys.

function hex(h) {
  const n = parseInt(h.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function mix(a, b, t) {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

let CLASS_HEX = ['#8a8f99', '#c4c8d0'];
let CLASS_RGB = CLASS_HEX.map(hex);
let PLANE_BG = hex('#151b29');
const GREY = { increase: '#9aa0ab', decrease: '#5b6478', incName: '', decName: '', pos: '#9aa0ab', neg: '#5b6478', posName: '', negName: '' };
let GRADIENT = { default: GREY };

let paletteName = 'default';
export function setPalette(name) { paletteName = GRADIENT[name] ? name : 'default'; }
export function palette() { return GRADIENT[paletteName] || GRADIENT.default; }

// 256-entry lookup tables (RGBA, packed for Uint32 writes) for the plane and the neuron maps.
// `diverging`: t in [0,1] -> class 0 hue (t=0) through the dark background (t=0.5) to class 1 hue (t=1).
function buildLut(stops, gamma = 1) {
  const lut = new Uint32Array(256);
  for (let k = 0; k < 256; k++) {
    // gamma < 1 lifts moderate values away from the neutral middle (t = 0.5)
    const d = 2 * (k / 255) - 1;
    const t = 0.5 + 0.5 * Math.sign(d) * Math.abs(d) ** gamma;
    let c;
    for (let s = 0; s < stops.length - 1; s++) {
      const [t0, c0] = stops[s];
      const [t1, c1] = stops[s + 1];
      if (t <= t1 || s === stops.length - 2) { c = mix(c0, c1, Math.min(1, Math.max(0, (t - t0) / (t1 - t0)))); break; }
    }
    lut[k] = (255 << 24) | (Math.round(c[2]) << 16) | (Math.round(c[1]) << 8) | Math.round(c[0]);
  }
  return lut;
}

const soft = (rgb, k) => mix(PLANE_BG, rgb, k);
export let PLANE_LUT; export let NEURON_LUT; export let CLASS_LUTS;  // live bindings, rebuilt by setColors

function buildLuts() {
  PLANE_LUT = buildLut([
    [0, soft(CLASS_RGB[0], 0.68)], [0.5, mix(PLANE_BG, [235, 238, 245], 0.06)], [1, soft(CLASS_RGB[1], 0.68)],
  ], 0.6);
  NEURON_LUT = buildLut([
    [0, soft(CLASS_RGB[0], 0.95)], [0.5, mix(PLANE_BG, [235, 238, 245], 0.08)], [1, soft(CLASS_RGB[1], 0.95)],
  ]);
  // Per-class ramps for multiclass: confidence (0..1 normalised) -> background to class hue.
  CLASS_LUTS = CLASS_RGB.map((rgb) => buildLut([[0, mix(PLANE_BG, rgb, 0.12)], [1, soft(rgb, 0.68)]]));
}
buildLuts();

const camel = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_(\w)/g, (_, c) => c.toUpperCase()), v]));

/** Adopt the schema's palette: {classes: [hex...], gradient: {default: {...}, cb: {...}}, plane_background}. */
export function setColors(p) {
  if (!p || !Array.isArray(p.classes) || !p.gradient) return;
  CLASS_HEX = p.classes.slice();
  CLASS_RGB = CLASS_HEX.map(hex);
  PLANE_BG = hex(p.plane_background || '#151b29');
  GRADIENT = Object.fromEntries(Object.entries(p.gradient).map(([k, v]) => [k, camel(v)]));
  buildLuts();
}

export function classColor(k) { return CLASS_HEX[((k % CLASS_HEX.length) + CLASS_HEX.length) % CLASS_HEX.length]; }

// Regression targets and neuron activations use the same diverging ramp as binary classes.
export function divergingCss(v, scale = 1) {
  const t = Math.max(0, Math.min(1, 0.5 + 0.5 * v / scale));
  const p = NEURON_LUT[Math.round(t * 255)];
  return `rgb(${p & 255},${(p >> 8) & 255},${(p >> 16) & 255})`;
}

export function gradientColor(g) {
  const p = palette();
  return g < 0 ? p.increase : g > 0 ? p.decrease : '#5b6478';
}

export function weightColor(w) {
  const p = palette();
  return w >= 0 ? p.pos : p.neg;
}
