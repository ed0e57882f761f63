// The plane: boundary heatmap (putImageData), train/test points, axes, the selected sample, the
// input-gradient arrow -dL/dx and the adversarial nudge path. Draws only when something changed.

import { PLANE_LUT, CLASS_LUTS, classColor, divergingCss } from './colors.js';
import { fitCanvas, fmt, placeTip } from './format.js';

// CPU-backed canvases: small, redrawn often, and fast without a GPU (headless, VMs, old laptops).
const CTX = { willReadFrequently: true };

let EXTENT = 1;  // half the side of the plane; the schema's extent replaces it

/** Adopt the schema's plane extent [lo, hi] (symmetric about 0). */
export function setExtent(extent) { EXTENT = Math.max(Math.abs(extent[0]), Math.abs(extent[1])); }

/** '#rrggbb' mixed towards white by k. */
function tint(hex, k) {
  const n = parseInt(hex.slice(1), 16);
  const c = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((v) => Math.round(v + (255 - v) * k));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
const M = { left: 26, right: 6, top: 6, bottom: 22 };

export class Plane {
  constructor(canvas, tip, { onPick }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', CTX);
    this.tip = tip;
    this.onPick = onPick;
    this.points = null;           // {train, test, kind, classes}
    this.grid = null;             // {kind, classes, boundary: {shape,data}, confidence}
    this.showTest = false;
    this.discretize = false;
    this.selected = null;         // {index, point:[x,y], label}
    this.inputGrad = null;        // [gx, gy] = dL/dx at the selected point
    this.nudge = null;            // {path, flipped, from_class, to_class, already_wrong}
    this.nudgeStart = 0;
    this.saliency = null;         // per training point, dL/dx (arrows show -dL/dx)
    this.overlay = null;          // {canvas, label}: a hovered neuron's map, shown instead of the boundary
    this.dirty = true;
    this.pointsDirty = true;
    this.gridCanvas = document.createElement('canvas');
    this.pointLayer = document.createElement('canvas');
    this.image = null;
    this.dpr = 1;
    new ResizeObserver(() => this.resize()).observe(canvas);
    canvas.addEventListener('click', (ev) => this.click(ev));
    canvas.addEventListener('keydown', (ev) => this.onKey(ev));
    canvas.addEventListener('mousemove', (ev) => this.hover(ev));
    canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; });
    this.resize();
  }

  resize() {
    const { dpr, changed } = fitCanvas(this.canvas);
    this.dpr = dpr;
    if (changed) {
      this.pointLayer.width = this.canvas.width; this.pointLayer.height = this.canvas.height;
      this.pointsDirty = true;
      this.dirty = true;
    }
  }

  // CSS-pixel geometry of the plot square.
  geom() {
    const w = this.canvas.width / this.dpr;
    const h = this.canvas.height / this.dpr;
    const side = Math.max(10, Math.min(w - M.left - M.right, h - M.top - M.bottom));
    return { x0: M.left, y0: M.top, side };
  }
  toPx(x, y, g = this.geom()) {
    return [g.x0 + (x + EXTENT) / (2 * EXTENT) * g.side, g.y0 + (EXTENT - y) / (2 * EXTENT) * g.side];
  }
  toData(px, py, g = this.geom()) {
    return [(px - g.x0) / g.side * 2 * EXTENT - EXTENT, EXTENT - (py - g.y0) / g.side * 2 * EXTENT];
  }

  setPoints(points) { this.points = points; this.pointsDirty = true; this.dirty = true; }
  setGrid(grid) { this.grid = grid; this.gridDirty = true; this.dirty = true; }
  setOptions({ showTest, discretize }) {
    if (showTest !== undefined && showTest !== this.showTest) { this.showTest = showTest; this.pointsDirty = true; this.dirty = true; }
    if (discretize !== undefined && discretize !== this.discretize) { this.discretize = discretize; this.gridDirty = true; this.dirty = true; }
  }
  setSelected(sel) {
    this.selected = sel;
    this.canvas.dataset.selected = sel && sel.index !== null && sel.index !== undefined ? String(sel.index) : '';
    this.dirty = true;
  }
  setInputGrad(g) { this.inputGrad = g; this.dirty = true; }
  setNudge(n) { this.nudge = n; this.nudgeStart = performance.now(); this.dirty = true; }
  setSaliency(grads) { this.saliency = grads; this.dirty = true; }
  setOverlay(overlay) { this.overlay = overlay; this.dirty = true; }
  invalidate() { this.pointsDirty = true; this.gridDirty = true; this.dirty = true; }

  // ---- Edit data (dataedit.js): while fn is set, a click or tap calls fn(x, y, {remove}) instead of
  // picking a sample; shift-click, or a touch held for 500 ms, asks to remove the nearest point.
  setEditHandler(fn) {
    this.editHandler = fn || null;
    this.canvas.classList.toggle('editing', !!fn);
    if (this.pressBound) return;
    this.pressBound = true;
    let timer = null; let start = null;
    const cancel = () => { clearTimeout(timer); timer = null; };
    this.canvas.addEventListener('pointerdown', (ev) => {
      cancel();
      this.longPressed = false;
      if (!this.editHandler || ev.pointerType !== 'touch') return;
      start = [ev.clientX, ev.clientY];
      const [x, y] = this.eventData(ev);
      timer = setTimeout(() => { timer = null; this.longPressed = true; if (this.editHandler) this.editHandler(x, y, { remove: true }); }, 500);
    });
    this.canvas.addEventListener('pointermove', (ev) => {
      if (timer && Math.hypot(ev.clientX - start[0], ev.clientY - start[1]) > 10) cancel();
    });
    for (const type of ['pointerup', 'pointercancel', 'pointerleave']) this.canvas.addEventListener(type, cancel);
    this.canvas.addEventListener('contextmenu', (ev) => { if (this.editHandler) ev.preventDefault(); });
  }

  regressionScale() {
    if (!this.points || !this.points.train.length) return 1;
    let m = 0;
    for (const p of this.points.train) m = Math.max(m, Math.abs(p[2]));
    return m > 0 ? m : 1;
  }

  /** Rasterise the boundary grid into gridCanvas (one putImageData). */
  paintGrid() {
    const grid = this.grid;
    if (!grid || !grid.boundary) return;
    const [rows, cols] = grid.boundary.shape;
    if (this.gridCanvas.width !== cols || this.gridCanvas.height !== rows) {
      this.gridCanvas.width = cols; this.gridCanvas.height = rows; this.image = null;
    }
    const gctx = this.gridCanvas.getContext('2d', CTX);
    if (!this.image) this.image = gctx.createImageData(cols, rows);
    const out = new Uint32Array(this.image.data.buffer);
    const b = grid.boundary.data;
    const disc = this.discretize;
    if (grid.kind === 'multiclass') {
      const conf = grid.confidence ? grid.confidence.data : null;
      const k = Math.max(2, grid.classes || 3);
      const floor = 1 / k;
      for (let n = 0; n < out.length; n++) {
        const c = b[n] | 0;
        const lut = CLASS_LUTS[c % CLASS_LUTS.length];
        let t = disc || !conf ? 0.85 : (conf[n] - floor) / (1 - floor);
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        out[n] = lut[(t * 255) | 0];
      }
    } else if (grid.kind === 'regression') {
      const s = this.regressionScale();
      for (let n = 0; n < out.length; n++) {
        let t = disc ? (b[n] >= 0 ? 1 : 0) : 0.5 + 0.5 * b[n] / s;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        out[n] = PLANE_LUT[(t * 255) | 0];
      }
    } else {
      for (let n = 0; n < out.length; n++) {
        let t = disc ? (b[n] >= 0.5 ? 1 : 0) : b[n];
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        out[n] = PLANE_LUT[(t * 255) | 0];
      }
    }
    gctx.putImageData(this.image, 0, 0);
  }

  pointColor(label, lighten = 0) {
    if (!this.points) return '#fff';
    if (this.points.kind === 'regression') return divergingCss(label, this.regressionScale());
    return lighten ? tint(classColor(label | 0), lighten) : classColor(label | 0);
  }

  paintPoints() {
    const ctx = this.pointLayer.getContext('2d', CTX);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.pointLayer.width, this.pointLayer.height);
    if (!this.points) return;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const g = this.geom();
    const r = this.points.train.length > 1500 ? 2.4 : 3.4;
    // training points: a lighter tint of their class with a white rim (as in TF Playground);
    // test points: the class colour with a dark rim
    ctx.lineWidth = 1;
    ctx.strokeStyle = 'rgba(255,255,255,0.9)';
    for (const p of this.points.train) {
      const [x, y] = this.toPx(p[0], p[1], g);
      ctx.beginPath(); ctx.arc(x, y, r, 0, Math.PI * 2);
      ctx.fillStyle = this.pointColor(p[2], 0.22); ctx.fill(); ctx.stroke();
    }
    if (this.showTest) {
      ctx.lineWidth = 1.6;
      ctx.strokeStyle = '#0b0f18';
      for (const p of this.points.test) {
        const [x, y] = this.toPx(p[0], p[1], g);
        ctx.beginPath(); ctx.arc(x, y, r + 0.3, 0, Math.PI * 2);
        ctx.fillStyle = this.pointColor(p[2], 0.22); ctx.fill(); ctx.stroke();
      }
    }
  }

  drawAxes(ctx, g) {
    ctx.strokeStyle = 'rgba(255,255,255,0.10)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    const [cx, cy] = this.toPx(0, 0, g);
    ctx.moveTo(cx + 0.5, g.y0); ctx.lineTo(cx + 0.5, g.y0 + g.side);
    ctx.moveTo(g.x0, cy + 0.5); ctx.lineTo(g.x0 + g.side, cy + 0.5);
    ctx.stroke();
    ctx.strokeStyle = 'rgba(255,255,255,0.25)';
    ctx.strokeRect(g.x0 + 0.5, g.y0 + 0.5, g.side - 1, g.side - 1);
    ctx.fillStyle = '#8a93a6';
    ctx.font = '10px system-ui, sans-serif';
    ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    const tick = EXTENT / 3;
    for (let v = -EXTENT; v <= EXTENT + 1e-9; v += tick) {
      const [x] = this.toPx(v, 0, g);
      ctx.fillText(fmt(v, 3), x, g.y0 + g.side + 5);
      ctx.fillRect(x, g.y0 + g.side, 1, 3);
    }
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
    for (let v = -EXTENT; v <= EXTENT + 1e-9; v += tick) {
      const [, y] = this.toPx(0, v, g);
      ctx.fillText(fmt(v, 3), g.x0 - 6, y);
      ctx.fillRect(g.x0 - 3, y, 3, 1);
    }
  }

  drawSelection(ctx, g) {
    const sel = this.selected;
    if (!sel || !sel.point) return;
    const [x, y] = this.toPx(sel.point[0], sel.point[1], g);
    // ring
    ctx.lineWidth = 2.5; ctx.strokeStyle = '#ffffff';
    ctx.beginPath(); ctx.arc(x, y, 8, 0, Math.PI * 2); ctx.stroke();
    ctx.lineWidth = 1; ctx.strokeStyle = 'rgba(0,0,0,0.7)';
    ctx.beginPath(); ctx.arc(x, y, 10, 0, Math.PI * 2); ctx.stroke();
    this.drawNudge(ctx, g);
    // -dL/dx arrow: direction that lowers the loss; length grows with |dL/dx| but stays readable
    const gr = this.inputGrad;
    if (gr && (gr[0] || gr[1])) {
      const mag = Math.hypot(gr[0], gr[1]);
      const len = 18 + 46 * mag / (mag + 0.05);
      const dx = -gr[0] / mag; const dy = gr[1] / mag;   // screen y points down
      const tx = x + dx * (10 + len); const ty = y + dy * (10 + len);
      const sx = x + dx * 10; const sy = y + dy * 10;
      for (const [w, c] of [[5, 'rgba(0,0,0,0.55)'], [2.2, '#ffffff']]) {
        ctx.strokeStyle = c; ctx.fillStyle = c; ctx.lineWidth = w;
        ctx.beginPath(); ctx.moveTo(sx, sy); ctx.lineTo(tx - dx * 6, ty - dy * 6); ctx.stroke();
        const h = w > 3 ? 11 : 9;
        ctx.beginPath();
        ctx.moveTo(tx, ty);
        ctx.lineTo(tx - dx * h - dy * h * 0.55, ty - dy * h + dx * h * 0.55);
        ctx.lineTo(tx - dx * h + dy * h * 0.55, ty - dy * h - dx * h * 0.55);
        ctx.closePath(); ctx.fill();
      }
      ctx.font = '11px system-ui, sans-serif';
      ctx.fillStyle = '#fff'; ctx.textAlign = dx >= 0 ? 'left' : 'right'; ctx.textBaseline = 'middle';
      ctx.shadowColor = 'rgba(0,0,0,0.9)'; ctx.shadowBlur = 3;
      // the label stays inside the plot, whichever way the arrow points
      const label = '−∂L/∂x';
      const lw = ctx.measureText(label).width;
      let lx = dx >= 0 ? tx + 6 : tx - 6 - lw;
      let ly = ty;
      if (lx < g.x0 + 3 || lx + lw > g.x0 + g.side - 3) {
        // no room beside the tip: centre the label beyond it, above or below, off the shaft
        lx = tx - lw / 2;
        ly = ty + (dy >= 0 ? 12 : -12);
      }
      lx = Math.max(g.x0 + 3, Math.min(g.x0 + g.side - 3 - lw, lx));
      ly = Math.max(g.y0 + 8, Math.min(g.y0 + g.side - 8, ly));
      ctx.textAlign = 'left';
      ctx.fillText(label, lx, ly);
      ctx.shadowBlur = 0;
    }
  }

  /**
   * The adversarial walk, drawn one step at a time (all at once under reduced motion), above the
   * selection ring so that even a short walk shows: a dot per step, the end in its new class.
   */
  drawNudge(ctx, g) {
    const n = this.nudge;
    if (!n || !n.path || n.path.length < 2) return;
    const reduced = matchMedia('(prefers-reduced-motion: reduce)').matches;
    const shown = reduced ? n.path.length : Math.min(n.path.length, 2 + Math.floor((performance.now() - this.nudgeStart) / 90));
    if (shown < n.path.length) this.dirty = true;          // keep drawing until the walk is complete
    this.canvas.dataset.nudgeShown = String(shown - 1);
    const pts = n.path.slice(0, shown).map((p) => this.toPx(p[0], p[1], g));
    ctx.save();
    for (const [w, c] of [[4, 'rgba(0,0,0,0.6)'], [2, '#ffffff']]) {
      ctx.strokeStyle = c; ctx.lineWidth = w;
      ctx.beginPath();
      pts.forEach(([px, py], k) => { if (k) ctx.lineTo(px, py); else ctx.moveTo(px, py); });
      ctx.stroke();
    }
    ctx.fillStyle = '#ffffff';
    for (const [px, py] of pts.slice(1)) { ctx.beginPath(); ctx.arc(px, py, 1.8, 0, Math.PI * 2); ctx.fill(); }
    if (shown === n.path.length) {
      const [ex, ey] = pts[pts.length - 1];
      ctx.beginPath(); ctx.arc(ex, ey, 5.5, 0, Math.PI * 2);
      ctx.fillStyle = n.to_class !== undefined && n.to_class !== null && this.points && this.points.kind !== 'regression'
        ? classColor(n.to_class) : '#fff';
      ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = '#fff'; ctx.stroke();
      const label = n.flipped ? `flips to class ${n.to_class}`
        : n.already_wrong ? `deeper into class ${n.to_class}` : (this.points && this.points.kind === 'regression' ? 'nudged' : 'no flip');
      ctx.font = '11px system-ui, sans-serif';
      ctx.textAlign = ex > g.x0 + g.side * 0.7 ? 'right' : 'left'; ctx.textBaseline = 'bottom';
      ctx.shadowColor = 'rgba(0,0,0,0.9)'; ctx.shadowBlur = 3; ctx.fillStyle = '#fff';
      ctx.fillText(label, ex + (ctx.textAlign === 'right' ? -8 : 8), ey - 6);
    }
    ctx.restore();
  }

  /** Every training point's −∂L/∂x as a short arrow: length by |∂L/∂x| against the largest. */
  drawSaliency(ctx, g) {
    const s = this.saliency;
    if (!s || !this.points || s.length !== this.points.train.length) return;
    let m = 0;
    for (const v of s) m = Math.max(m, Math.hypot(v[0], v[1]));
    if (!(m > 0)) return;
    const unit = g.side / 28;
    ctx.save();
    ctx.strokeStyle = 'rgba(255,255,255,0.85)'; ctx.lineWidth = 1.1;
    ctx.beginPath();
    this.points.train.forEach((p, k) => {
      const [gx, gy] = s[k];
      const mag = Math.hypot(gx, gy);
      if (!(mag > 0)) return;
      const len = unit * (0.25 + 0.75 * Math.sqrt(mag / m));
      const dx = -gx / mag; const dy = gy / mag;   // −∂L/∂x; screen y points down
      const [x, y] = this.toPx(p[0], p[1], g);
      const tx = x + dx * len; const ty = y + dy * len;
      ctx.moveTo(x, y); ctx.lineTo(tx, ty);
      ctx.moveTo(tx, ty); ctx.lineTo(tx - dx * 3 - dy * 2, ty - dy * 3 + dx * 2);
      ctx.moveTo(tx, ty); ctx.lineTo(tx - dx * 3 + dy * 2, ty - dy * 3 - dx * 2);
    });
    ctx.stroke();
    ctx.restore();
  }

  draw() {
    if (!this.dirty) return false;
    this.dirty = false;
    const ctx = this.ctx;
    const g = this.geom();
    if (this.gridDirty) { this.paintGrid(); this.gridDirty = false; }
    if (this.pointsDirty) { this.paintPoints(); this.pointsDirty = false; }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = '#151b29';
    ctx.fillRect(g.x0, g.y0, g.side, g.side);
    if (this.overlay) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(this.overlay.canvas, g.x0, g.y0, g.side, g.side);
    } else if (this.grid && this.grid.boundary) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(this.gridCanvas, g.x0, g.y0, g.side, g.side);
    }
    this.drawAxes(ctx, g);
    // points beyond the extent (noisy blobs) stay inside the frame, off the axis labels
    ctx.save();
    ctx.beginPath(); ctx.rect(g.x0 - 3, g.y0 - 3, g.side + 6, g.side + 6); ctx.clip();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.pointLayer, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    this.drawSaliency(ctx, g);
    this.drawSelection(ctx, g);
    ctx.restore();
    if (this.overlay) {
      ctx.font = '12px system-ui, sans-serif'; ctx.textAlign = 'left'; ctx.textBaseline = 'top';
      ctx.shadowColor = 'rgba(0,0,0,0.9)'; ctx.shadowBlur = 3; ctx.fillStyle = '#fff';
      ctx.fillText(this.overlay.label, g.x0 + 6, g.y0 + 6);
      ctx.shadowBlur = 0;
    }
    this.canvas.dataset.overlay = this.overlay ? this.overlay.label : '';
    return true;
  }

  eventData(ev) {
    const r = this.canvas.getBoundingClientRect();
    return this.toData(ev.clientX - r.left, ev.clientY - r.top);
  }

  click(ev) {
    const [x, y] = this.eventData(ev);
    if (Math.abs(x) > EXTENT * 1.05 || Math.abs(y) > EXTENT * 1.05) return;
    if (this.editHandler) {
      if (!this.longPressed) this.editHandler(Math.max(-EXTENT, Math.min(EXTENT, x)), Math.max(-EXTENT, Math.min(EXTENT, y)), { remove: ev.shiftKey });
      this.longPressed = false;
      return;
    }
    this.pickNear(ev, x, y);
  }

  /** The training sample drawn nearest to CSS pixel (px, py): {index, p, dist} (dist in CSS px). */
  nearestSample(px, py) {
    if (!this.points || !this.points.train.length) return null;
    const g = this.geom();
    let best = null;
    this.points.train.forEach((p, index) => {
      const [x, y] = this.toPx(p[0], p[1], g);
      const dist = Math.hypot(x - px, y - py);
      if (!best || dist < best.dist) best = { index, p, dist };
    });
    return best;
  }

  /** A click or tap picks the sample under it; empty space (no sample within a finger's reach)
   * picks nothing and says so, rather than selecting a point far away. */
  pickNear(ev, x, y) {
    const r = this.canvas.getBoundingClientRect();
    const near = this.nearestSample(ev.clientX - r.left, ev.clientY - r.top);
    const reach = ev.pointerType === 'touch' || (ev.sourceCapabilities && ev.sourceCapabilities.firesTouchEvents) ? 22 : 12;
    if (!near || near.dist > reach) {
      this.tip.textContent = `x₁ ${x.toFixed(2)} · x₂ ${y.toFixed(2)}\nno sample here: click on a point`;
      placeTip(this.tip, this.canvas.parentElement, ev);
      this.canvas.dataset.pick = 'none';
      return;
    }
    this.canvas.dataset.pick = String(near.index);
    this.onPick(near.p[0], near.p[1]);
  }

  /** Keyboard: the arrows move to the nearest training sample in that direction, Home/End to the
   * first/last; each one is picked as a click would pick it. */
  onKey(ev) {
    const dirs = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    if (!this.points || !this.points.train.length) return;
    const train = this.points.train;
    let index = null;
    if (ev.key === 'Home') index = 0;
    else if (ev.key === 'End') index = train.length - 1;
    else if (dirs[ev.key]) {
      const [dx, dy] = dirs[ev.key];
      const cur = this.selected && this.selected.point;
      if (!cur) index = 0;
      else {
        let best = Infinity;
        train.forEach((p, k) => {
          const ox = p[0] - cur[0]; const oy = p[1] - cur[1];
          const along = ox * dx + oy * dy;
          if (along <= 1e-9) return;
          const across = Math.abs(ox * dy - oy * dx);
          const cost = along + 2 * across;       // prefer points straight ahead
          if (cost < best) { best = cost; index = k; }
        });
      }
    } else return;
    ev.preventDefault(); ev.stopPropagation();
    if (index === null) return;
    this.canvas.dataset.pick = String(index);
    this.onPick(train[index][0], train[index][1]);
  }

  /** Tooltip: the coordinates and the output there (a lookup in the grid we were sent). */
  hover(ev) {
    const [x, y] = this.eventData(ev);
    if (Math.abs(x) > EXTENT || Math.abs(y) > EXTENT) { this.tip.hidden = true; return; }
    let text = `x₁ ${x.toFixed(2)} · x₂ ${y.toFixed(2)}`;
    const grid = this.grid;
    if (grid && grid.boundary) {
      const [rows, cols] = grid.boundary.shape;
      const c = Math.min(cols - 1, Math.max(0, Math.floor((x + EXTENT) / (2 * EXTENT) * cols)));
      const r = Math.min(rows - 1, Math.max(0, Math.floor((EXTENT - y) / (2 * EXTENT) * rows)));
      const v = grid.boundary.data[r * cols + c];
      if (grid.kind === 'multiclass') {
        const conf = grid.confidence ? grid.confidence.data[r * cols + c] : null;
        text += ` · class ${v | 0}${conf !== null ? ` (p ${conf.toFixed(2)})` : ''}`;
      } else if (grid.kind === 'regression') text += ` · output ${fmt(v, 3)}`;
      else text += ` · P(class 1) ${v.toFixed(2)}`;
    }
    this.tip.textContent = text;
    placeTip(this.tip, this.canvas.parentElement, ev);
  }
}

/** The colour key under the plane: what each hue means for this kind of dataset. */
export function renderScale(box, points) {
  const chip = (color, text) => {
    const c = document.createElement('span'); c.className = 'chip';
    const d = document.createElement('span'); d.className = 'dot'; d.style.background = color;
    c.append(d, text); return c;
  };
  const bar = () => {
    const b = document.createElement('span'); b.className = 'bar';
    b.style.background = `linear-gradient(90deg, ${classColor(0)}, #1a2030, ${classColor(1)})`;
    return b;
  };
  box.replaceChildren();
  if (points.kind === 'multiclass') {
    for (let k = 0; k < (points.classes || 3); k++) box.append(chip(classColor(k), `class ${k}`));
    box.append(' · shade = confidence');
  } else if (points.kind === 'regression') {
    box.append('low', bar(), 'high');
  } else {
    box.append(chip(classColor(0), 'class 0'), bar(), chip(classColor(1), 'class 1'));
  }
}
