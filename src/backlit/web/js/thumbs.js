// Hand-drawn dataset thumbnails: decorative icons in the spirit of each dataset (not the data itself).

import { classColor, divergingCss } from './colors.js';

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Each icon: list of [x, y, colour] with x, y in [-1, 1].
const ICONS = {
  circle(r) {
    const pts = [];
    for (let k = 0; k < 70; k++) {
      const a = r() * Math.PI * 2;
      const inner = k % 2 === 0;
      const rad = inner ? r() * 0.42 : 0.6 + r() * 0.3;
      pts.push([rad * Math.cos(a), rad * Math.sin(a), classColor(inner ? 1 : 0)]);
    }
    return pts;
  },
  xor(r) {
    const pts = [];
    for (let k = 0; k < 70; k++) {
      const x = r() * 1.8 - 0.9; const y = r() * 1.8 - 0.9;
      pts.push([x + Math.sign(x) * 0.06, y + Math.sign(y) * 0.06, classColor(x * y > 0 ? 1 : 0)]);
    }
    return pts;
  },
  gauss(r) {
    const pts = [];
    for (let k = 0; k < 60; k++) {
      const c = k % 2;
      const g = () => (r() + r() + r() - 1.5) * 0.45;
      pts.push([(c ? 0.42 : -0.42) + g(), (c ? -0.42 : 0.42) + g(), classColor(c)]);
    }
    return pts;
  },
  spiral(r) {
    const pts = [];
    for (let k = 0; k < 80; k++) {
      const c = k % 2; const t = (k >> 1) / 40;
      const a = t * 1.75 * 2 * Math.PI + c * Math.PI;
      pts.push([0.9 * t * Math.sin(a) + (r() - 0.5) * 0.05, 0.9 * t * Math.cos(a) + (r() - 0.5) * 0.05, classColor(c)]);
    }
    return pts;
  },
  moons(r) {
    const pts = [];
    for (let k = 0; k < 70; k++) {
      const c = k % 2; const t = r() * Math.PI;
      const x = c ? 1 - Math.cos(t) : Math.cos(t); const y = c ? 0.5 - Math.sin(t) : Math.sin(t);
      pts.push([(x - 0.5) * 0.62 + (r() - 0.5) * 0.1, -(y - 0.25) * 0.62 + (r() - 0.5) * 0.1, classColor(c)]);
    }
    return pts;
  },
  blobs(r) {
    const pts = [];
    for (let k = 0; k < 75; k++) {
      const c = k % 3; const a = c * 2 * Math.PI / 3 + 0.5;
      const g = () => (r() + r() + r() - 1.5) * 0.32;
      pts.push([0.5 * Math.cos(a) + g(), 0.5 * Math.sin(a) + g(), classColor(c)]);
    }
    return pts;
  },
  spiral_multi(r) {
    const pts = [];
    for (let k = 0; k < 90; k++) {
      const c = k % 3; const t = r();
      const a = t * 2 * Math.PI * 1.1 + c * 2 * Math.PI / 3;
      pts.push([0.88 * t * Math.cos(a), 0.88 * t * Math.sin(a), classColor(c)]);
    }
    return pts;
  },
  plane(r) {
    const pts = [];
    for (let k = 0; k < 60; k++) {
      const x = r() * 1.8 - 0.9; const y = r() * 1.8 - 0.9;
      pts.push([x, y, divergingCss(x + y, 1.1)]);
    }
    return pts;
  },
  multi_gauss(r) {
    const pts = [];
    const centres = [[-0.5, 0.5, 1], [0.5, 0.5, -1], [0, -0.5, 0.8]];
    for (let k = 0; k < 70; k++) {
      const x = r() * 1.8 - 0.9; const y = r() * 1.8 - 0.9;
      let v = 0;
      for (const [cx, cy, s] of centres) v += s * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.12);
      pts.push([x, y, divergingCss(v, 0.5)]);
    }
    return pts;
  },
};

export function drawThumb(canvas, name, kind) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width; const h = canvas.height;
  ctx.fillStyle = '#151b29';
  ctx.fillRect(0, 0, w, h);
  const make = ICONS[name] || (kind === 'regression' ? ICONS.plane : kind === 'multiclass' ? ICONS.blobs : ICONS.gauss);
  const pts = make(rng(name.length * 7919 + name.charCodeAt(0)));
  for (const [x, y, color] of pts) {
    ctx.beginPath();
    ctx.arc(w / 2 + x * w * 0.46, h / 2 - y * h * 0.46, w / 30, 0, Math.PI * 2);
    ctx.fillStyle = color;
    ctx.fill();
  }
}
