// The mini heatmap on every neuron: each neuron's activation over the plane (25x25, sent by the
// server), coloured like the plane. All maps go into one atlas with one putImageData, then one
// drawImage per neuron scales them into the boxes.

import { NEURON_LUT } from './colors.js';

const CTX = { willReadFrequently: true };
// Bounded activations (the registry says which) keep their natural scale; the others (inputs, ReLU,
// linear outputs) are scaled by their own largest |value| so that their shape stays visible.
let BOUNDED = new Set();
let EXTENT = 1;

/** Adopt the schema: which activations are bounded, and the plane's extent. */
export function setMapSchema(schema) {
  BOUNDED = new Set(schema.activations.filter((a) => a.bounded).map((a) => a.name));
  EXTENT = Math.max(Math.abs(schema.extent[0]), Math.abs(schema.extent[1]));
}

/** One neuron's map (values data[offset .. offset + nr*nr]) as an nr x nr canvas, coloured as on its box. */
export function neuronMapCanvas(data, offset, nr, activation) {
  const canvas = document.createElement('canvas');
  canvas.width = nr; canvas.height = nr;
  const ctx = canvas.getContext('2d', CTX);
  const image = ctx.createImageData(nr, nr);
  const px = new Uint32Array(image.data.buffer);
  let scale = 1;
  if (!BOUNDED.has(activation)) {
    let m = 0;
    for (let k = 0; k < nr * nr; k++) m = Math.max(m, Math.abs(data[offset + k]));
    scale = m > 1e-9 ? m : 1;
  }
  for (let k = 0; k < nr * nr; k++) {
    let t = 0.5 + 0.5 * data[offset + k] / scale;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    px[k] = NEURON_LUT[(t * 255) | 0];
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

export class MapPainter {
  constructor() {
    this.atlas = null;
    this.image = null;
  }

  /**
   * @param ctx the network canvas' context
   * @param v {maps: {shape:[N,nr,nr], data}, sizes, activations, neurons (per column: {x, y}), s (box
   *          size), dpr, point ([x, y] of the selected sample, or null), litUpTo (last lit column)}
   */
  draw(ctx, v) {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
    ctx.setTransform(v.dpr, 0, 0, v.dpr, 0, 0);
    const total = v.sizes.reduce((a, b) => a + b, 0);
    if (v.maps && v.maps.shape && v.maps.shape[0] === total) this.paint(ctx, v, total);
    else {
      ctx.fillStyle = '#1d2435';
      for (const col of v.neurons) for (const nu of col) ctx.fillRect(nu.x, nu.y, v.s, v.s);
    }
    if (v.point) this.marks(ctx, v);
  }

  paint(ctx, v, total) {
    const nr = v.maps.shape[1];
    if (!this.atlas || this.atlas.width !== nr * total || this.atlas.height !== nr) {
      this.atlas = document.createElement('canvas');
      this.atlas.width = nr * total; this.atlas.height = nr;
      this.image = this.atlas.getContext('2d', CTX).createImageData(nr * total, nr);
    }
    const px = new Uint32Array(this.image.data.buffer);
    const data = v.maps.data;
    const rowStride = nr * total;
    let idx = 0;
    for (let c = 0; c < v.sizes.length; c++) {
      const act = c === 0 ? 'input' : v.activations[c - 1] || '';
      for (let i = 0; i < v.sizes[c]; i++, idx++) {
        const base = idx * nr * nr;
        let scale = 1;
        if (!BOUNDED.has(act)) {
          let m = 0;
          for (let k = 0; k < nr * nr; k++) { const a = Math.abs(data[base + k]); if (a > m) m = a; }
          scale = m > 1e-9 ? m : 1;
        }
        for (let r = 0; r < nr; r++) {
          for (let q = 0; q < nr; q++) {
            let t = 0.5 + 0.5 * data[base + r * nr + q] / scale;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            px[r * rowStride + idx * nr + q] = NEURON_LUT[(t * 255) | 0];
          }
        }
      }
    }
    this.atlas.getContext('2d', CTX).putImageData(this.image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    idx = 0;
    for (let c = 0; c < v.sizes.length; c++) {
      for (let i = 0; i < v.sizes[c]; i++, idx++) {
        const nu = v.neurons[c][i];
        ctx.drawImage(this.atlas, idx * nr, 0, nr, nr, nu.x, nu.y, v.s, v.s);
      }
    }
  }

  /** A white dot where the selected sample sits, on every map the forward pass has reached. */
  marks(ctx, v) {
    const fx = (v.point[0] + EXTENT) / (2 * EXTENT); const fy = (EXTENT - v.point[1]) / (2 * EXTENT);
    for (let c = 0; c <= v.litUpTo; c++) {
      for (const nu of v.neurons[c]) {
        ctx.beginPath(); ctx.arc(nu.x + fx * v.s, nu.y + fy * v.s, Math.max(1.6, v.s / 16), 0, Math.PI * 2);
        ctx.fillStyle = '#fff'; ctx.fill();
        ctx.lineWidth = 1; ctx.strokeStyle = 'rgba(0,0,0,0.8)'; ctx.stroke();
      }
    }
  }
}
