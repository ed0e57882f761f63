// The network view: neurons in columns (SVG), each with a mini heatmap (one canvas behind the
// outlines), links coloured by weight sign when idle and by gradient sign after Backward or while
// training. Orange = the loss wants the weight to increase (dL/dw < 0), green = decrease.

import { gradientColor, weightColor, palette, classColor } from './colors.js';
import { MapPainter } from './netmaps.js';
import { svg, fmt, placeTip } from './format.js';

// CPU-backed canvases: small, redrawn often, and fast without a GPU (headless, VMs, old laptops).
const CTX = { willReadFrequently: true };

const XHTML = 'http://www.w3.org/1999/xhtml';

/** a[i][j]... or null when any level is missing (stale data from a previous architecture). */
function at(a, ...idx) {
  let v = a;
  for (const k of idx) { if (v === null || v === undefined) return null; v = v[k]; }
  return v === undefined ? null : v;
}

const NEUTRAL = '#5b6478';  // a link with no pull either way
// A gradient under 1% of full width is no real pull: grey, with no halo and no arrow, in every view.
export const GREY_BELOW = 0.01;
const HOLD_MS = 6000;       // while training, a link keeps a colour at least this long

function segmentDistance(x, y, [ax, ay], [bx, by]) {
  const dx = bx - ax; const dy = by - ay;
  const u = Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy || 1)));
  return Math.hypot(ax + u * dx - x, ay + u * dy - y);
}

export class NetworkView {
  constructor({ svgEl, stage, buttons, tip, handlers, keyEl }) {
    this.svg = svgEl;
    this.keyEl = keyEl || null;   // one line under the view: what the links show right now
    this.keyText = null;
    this.stage = stage;
    this.buttons = buttons;
    this.tip = tip;
    this.handlers = handlers;
    this.sizes = [];
    this.activations = [];
    this.inputLabels = [];
    this.maxNeurons = 16;
    this.weights = null;
    this.biases = null;
    this.maps = null;            // {shape:[N,nr,nr], data}
    this.sample = null;          // trace dict of the selected sample
    this.training = null;        // frame.train_grad: the training set's mean gradient
    this.badges = null;          // frame.badges: per layer, per neuron: 'saturated' | 'dead' | null
    this.badgeGlyphs = {};
    this.guesses = new Map();    // Predict, then reveal: 'l,i,j' -> 'increase' | 'decrease'
    this.predicting = false;     // Predict, then reveal is on: no gradient shows before Backward
    this.scale = null;           // {w, d}: the shared width scale (see observeScale)
    this.scaleTime = 0;
    this.phase = 'idle';
    this.fwdCol = -1;            // forward reached this column
    this.bwdCol = Infinity;      // backward reached this column (halos for cols >= bwdCol)
    this.selectedLink = null;
    this.selectedNeuron = null;
    this.structDirty = true;
    this.dirty = true;
    this.mapsDirty = true;
    this.titleTime = 0;
    this.linkTime = 0;
    this.titleEvery = 200;
    this.linksPending = false;
    this.dpr = 1;
    this.mapPainter = new MapPainter();
    this.build();
    new ResizeObserver(() => { this.structDirty = true; this.dirty = true; }).observe(stage.parentElement || stage);
    this.svg.addEventListener('click', (ev) => this.click(ev));
    this.svg.addEventListener('keydown', (ev) => this.onKey(ev));
    this.svg.addEventListener('mousemove', (ev) => this.hover(ev));
    this.svg.addEventListener('mouseleave', () => {
      this.tip.hidden = true;
      if (this.hovered && this.handlers.onHoverNeuron) this.handlers.onHoverNeuron(null);
      this.hovered = null;
    });
  }

  // ---- inputs --------------------------------------------------------------------------------

  setArchitecture({ sizes, activations, inputLabels, maxNeurons }) {
    const same = JSON.stringify([sizes, inputLabels]) === JSON.stringify([this.sizes, this.inputLabels]);
    this.activations = activations || [];
    this.maxNeurons = maxNeurons || 16;
    this.mapsDirty = true;       // the maps' colour scale depends on the activation
    if (same) return;
    this.sizes = sizes.slice();
    this.inputLabels = inputLabels.slice();
    this.sample = null; this.training = null; this.scale = null;
    this.phase = 'idle'; this.fwdCol = -1; this.bwdCol = Infinity;
    this.selectedLink = null; this.selectedNeuron = null;
    this.build();
  }
  /** True when per-layer matrices (out, in) fit the drawn architecture. */
  fits(Ws) {
    const n = this.sizes;
    return Array.isArray(Ws) && Ws.length === n.length - 1
      && Ws.every((W, l) => Array.isArray(W) && W.length === n[l + 1] && Array.isArray(W[0]) && W[0].length === n[l]);
  }
  setWeights(weights, biases) {
    const ok = this.fits(weights);
    this.weights = ok ? weights : null; this.biases = ok ? biases : null; this.dirty = true;
  }
  setMaps(maps) { this.maps = maps; this.mapsDirty = true; }
  /**
   * The training set's mean gradient, as each frame brings it, smoothed over about half a second of
   * frames (each new one counts 10%): near a minimum the gradient jitters around 0 from step to step,
   * and the picture should show its trend, not that jitter.
   */
  setTraining(tg) {
    if (!tg || !this.fits(tg.grad_W)) { this.training = null; this.dirty = true; return; }
    const prev = this.training;
    if (prev && prev.grad_W.length === tg.grad_W.length) {
      const blend = (a, b) => (Array.isArray(a) ? a.map((x, k) => blend(x, b[k])) : a + 0.1 * (b - a));
      this.training = { grad_W: blend(prev.grad_W, tg.grad_W), grad_b: blend(prev.grad_b, tg.grad_b), scale: tg.scale };
    } else {
      this.training = { grad_W: tg.grad_W, grad_b: tg.grad_b, scale: tg.scale };
    }
    if (tg.scale) this.observeScale(tg.scale);
    this.dirty = true;
  }

  /**
   * One width scale for every view (training, Forward/Backward, Next sample): full width is the
   * largest |∂L/∂w| any single training sample has now (the server measures it each frame), and
   * halos likewise for |δ|. It follows that number with a half-life of 2 s, so widths stay comparable
   * from one sample to the next and never jump.
   */
  observeScale(scale) {
    const now = performance.now();
    const w = scale.grad_W; const d = scale.delta;
    if (!(w > 0) || !(d > 0)) return;
    if (!this.scale) { this.scale = { w, d }; this.scaleTime = now; return; }
    const k = 1 - 0.5 ** (Math.min(now - this.scaleTime, 10000) / 2000);
    this.scale = { w: this.scale.w * (w / this.scale.w) ** k, d: this.scale.d * (d / this.scale.d) ** k };
    this.scaleTime = now;
  }
  setSample(trace) {
    const ok = trace && trace.layers && this.fits(trace.layers.map((x) => x.grad_W));
    this.sample = ok ? trace : null; this.dirty = true; this.mapsDirty = true;
  }
  setView({ phase, fwdCol, bwdCol }) {
    if (phase !== undefined) this.phase = phase;
    if (fwdCol !== undefined) this.fwdCol = fwdCol;
    if (bwdCol !== undefined) this.bwdCol = bwdCol;
    this.svg.dataset.phase = this.phase;
    if (this.fwdCol >= 0) this.svg.dataset.forwardLayer = String(this.fwdCol); else delete this.svg.dataset.forwardLayer;
    if (Number.isFinite(this.bwdCol)) this.svg.dataset.backwardLayer = String(this.bwdCol); else delete this.svg.dataset.backwardLayer;
    this.dirty = true; this.mapsDirty = true;
    // The neurons' data-lit / data-halo must change in the same task as data-phase, so that anyone
    // watching the DOM never sees a phase without its drawing (the canvas maps follow at the next frame).
    if (!this.structDirty && this.links) { this.drawSvg(); this.dirty = false; }
  }
  setBadges(badges, glyphs) { this.badges = badges; if (glyphs) this.badgeGlyphs = glyphs; this.dirty = true; }
  setGuesses(guesses) { this.guesses = guesses; this.dirty = true; }
  setPredicting(on) { this.predicting = !!on; this.dirty = true; }

  select(link, neuron) { this.selectedLink = link; this.selectedNeuron = neuron; this.dirty = true; }
  invalidate() { this.structDirty = true; this.dirty = true; this.mapsDirty = true; }

  get nCols() { return this.sizes.length; }
  get isLayered() { return this.phase !== 'idle'; }

  // ---- structure ------------------------------------------------------------------------------

  build() {
    const s = this.svg;
    while (s.firstChild) s.removeChild(s.firstChild);
    this.gHalos = svg('g', { class: 'halos' });
    this.gLinks = svg('g', { class: 'links' });
    this.selPath = svg('path', { class: 'link-selected', 'pointer-events': 'none', visibility: 'hidden' });
    this.fo = svg('foreignObject', { x: 0, y: 0, width: 10, height: 10, 'pointer-events': 'none' });
    this.canvas = document.createElementNS(XHTML, 'canvas');
    this.canvas.setAttribute('class', 'net-maps');
    this.fo.append(this.canvas);
    this.gGlyphs = svg('g', { class: 'glyphs', 'pointer-events': 'none' });
    this.gNeurons = svg('g', { class: 'neurons' });
    this.gLabels = svg('g', { class: 'labels', 'pointer-events': 'none' });
    this.gHits = svg('g', { class: 'link-hits' });
    this.gBiases = svg('g', { class: 'biases' });
    s.append(this.gHalos, this.selPath, this.gLinks, this.fo, this.gHits, this.gGlyphs, this.gNeurons, this.gBiases, this.gLabels);
    this.links = [];
    this.neurons = [];
    const sizes = this.sizes;
    for (let c = 0; c < sizes.length; c++) {
      const col = [];
      for (let i = 0; i < sizes[c]; i++) {
        // small networks: every neuron is a tab stop (Enter opens it, and from there its weights)
        const focusable = sizes.reduce((a, b) => a + b, 0) <= 48;
        const g = svg('g', { class: 'neuron', 'data-col': c, 'data-index': i, tabindex: focusable ? 0 : -1,
          role: 'button', 'aria-label': `neuron ${this.neuronName(c, i)}` });
        const box = svg('rect', { class: 'box', rx: 4 });
        const dim = svg('rect', { class: 'dim', rx: 4 });
        const ring = svg('rect', { class: 'ring', rx: 5 });
        const value = svg('text', { class: 'value' });
        const vbg = svg('rect', { class: 'vbg', rx: 3, height: 12, visibility: 'hidden' });
        const mark = svg('text', { class: 'mark' });
        const abar = svg('rect', { class: 'abar', width: 4 });
        const badge = svg('text', { class: 'badge' });
        g.append(dim, box, ring, abar, vbg, value, mark, badge);
        let bias = null;
        if (c > 0) {
          // its own focusable button, outside the neuron's group (no button inside a button)
          bias = svg('circle', { class: 'bias', r: 3.6, 'data-layer': c - 1, 'data-i': i, tabindex: focusable ? 0 : -1,
            role: 'button' });
          // its <title> is its name (and its tooltip): "bias h1.1 = 0.1234 · click to edit"
          const bt = svg('title'); bt.textContent = `bias ${this.neuronName(c, i)} · click to edit`;
          bias.append(bt); this.gBiases.append(bias);
        }
        const halo = svg('rect', { class: 'halo', rx: 8 });
        this.gHalos.append(halo);
        this.gNeurons.append(g);
        col.push({ g, box, dim, ring, abar, vbg, value, mark, badge, bias, halo, x: 0, y: 0, cache: {} });
      }
      this.neurons.push(col);
    }
    // a big network is one tab stop (its first neuron); the arrow keys move through it
    if (this.neurons[0] && this.neurons[0][0]) this.neurons[0][0].g.setAttribute('tabindex', 0);
    for (let l = 0; l + 1 < sizes.length; l++) {
      for (let i = 0; i < sizes[l + 1]; i++) {
        for (let j = 0; j < sizes[l]; j++) {
          const path = svg('path', { class: 'link', 'data-layer': l, 'data-i': i, 'data-j': j, 'data-grad-sign': 'none' });
          const title = svg('title');
          path.append(title);
          // an invisible, 10 px wide copy takes the clicks and taps, however thin the drawn link is
          const hit = svg('path', { class: 'link-hit', 'data-layer': l, 'data-i': i, 'data-j': j });
          const glyph = svg('text', { class: 'glyph' });
          this.gLinks.append(path);
          this.gHits.append(hit);
          this.gGlyphs.append(glyph);
          this.links.push({ l, i, j, path, hit, title, glyph, mx: 0, my: 0, samples: [], cache: {} });
        }
      }
    }
    this.colLabels = [];
    for (let c = 0; c < sizes.length; c++) {
      const t = svg('text', { class: 'col-label' });
      this.gLabels.append(t);
      this.colLabels.push(t);
    }
    this.outcome = svg('text', { class: 'outcome' });
    this.outcomeLines = [0, 1, 2].map(() => { const t = svg('tspan'); this.outcome.append(t); return t; });
    this.gLabels.append(this.outcome);
    this.inLabels = this.inputLabels.map((name) => {
      const t = svg('text', { class: 'in-label' }); t.textContent = name; this.gLabels.append(t); return t;
    });
    this.buildButtons();
    this.structDirty = true; this.dirty = true; this.mapsDirty = true;
  }

  buildButtons() {
    const b = this.buttons;
    b.replaceChildren();
    this.btnGroups = [];
    for (let c = 1; c + 1 < this.sizes.length; c++) {
      const k = c;
      const wrap = document.createElement('div');
      wrap.className = 'neuron-ctl';
      const add = document.createElement('button');
      add.type = 'button'; add.className = 'round-btn small'; add.textContent = '+';
      add.setAttribute('aria-label', `Add neuron to layer ${k}`);
      add.title = `Add a neuron to hidden layer ${k}`;
      add.disabled = this.sizes[c] >= this.maxNeurons;
      add.addEventListener('click', () => this.handlers.onAddNeuron(k - 1));
      const rem = document.createElement('button');
      rem.type = 'button'; rem.className = 'round-btn small'; rem.textContent = '−';
      rem.setAttribute('aria-label', `Remove neuron from layer ${k}`);
      rem.title = `Remove a neuron from hidden layer ${k}`;
      rem.disabled = this.sizes[c] <= 1;
      rem.addEventListener('click', () => this.handlers.onRemoveNeuron(k - 1));
      const label = document.createElement('span');
      label.className = 'neuron-count';
      label.textContent = `${this.sizes[c]} neuron${this.sizes[c] === 1 ? '' : 's'}`;
      const row = document.createElement('span');
      row.className = 'neuron-ctl-row';
      row.append(add, rem);
      wrap.append(row, label);
      b.append(wrap);
      this.btnGroups.push({ c, wrap });
    }
  }

  layout() {
    // The view fills its panel; a narrow panel (a phone) scrolls sideways instead of squeezing columns.
    const wrap = this.stage.parentElement;
    const W = Math.max(56 * this.sizes.length + 100, (wrap && wrap.clientWidth) || this.stage.clientWidth);
    const maxN0 = Math.max(1, ...this.sizes);
    const H0 = Math.round(Math.max(330, Math.min(540, 40 + maxN0 * 64)));
    const n = this.nCols;
    const maxN = Math.max(1, ...this.sizes);
    const top = 26; const bottom = 10;
    const avail = H0 - top - bottom;
    const pitch = Math.min(avail / maxN, 66);
    const s = Math.max(12, Math.min(40, Math.floor(pitch * 0.74)));
    this.s = s; this.pitch = pitch;
    const left = 58; const right = 44;
    const span = Math.max(1, W - left - right - s);
    const colX = [];
    for (let c = 0; c < n; c++) colX.push(left + (n > 1 ? c * span / (n - 1) : span / 2));
    this.colX = colX;
    for (let c = 0; c < n; c++) {
      const m = this.sizes[c];
      const y0 = top + (avail - m * pitch) / 2 + (pitch - s) / 2;
      this.neurons[c].forEach((nu, i) => {
        nu.x = colX[c]; nu.y = y0 + i * pitch;
        for (const r of [nu.box, nu.dim]) { r.setAttribute('x', nu.x); r.setAttribute('y', nu.y); r.setAttribute('width', s); r.setAttribute('height', s); }
        nu.ring.setAttribute('x', nu.x - 3); nu.ring.setAttribute('y', nu.y - 3);
        nu.ring.setAttribute('width', s + 6); nu.ring.setAttribute('height', s + 6);
        nu.value.setAttribute('x', nu.x + s / 2); nu.value.setAttribute('y', nu.y + s + 11);
        nu.vbg.setAttribute('y', nu.y + s + 2);
        nu.mark.setAttribute('x', nu.x + s + 3); nu.mark.setAttribute('y', nu.y + 8);
        if (nu.bias) { nu.bias.setAttribute('cx', nu.x - 1); nu.bias.setAttribute('cy', nu.y + s - 1); }
        nu.cache = {};
        for (const e of [nu.g, nu.box, nu.dim, nu.ring, nu.abar, nu.vbg, nu.value, nu.mark, nu.bias, nu.halo]) if (e) e.__last = {};
      });
      const lab = this.colLabels[c];
      lab.setAttribute('x', colX[c] + s / 2); lab.setAttribute('y', 14);
      const tight = n > 1 && span / (n - 1) < 84;
      lab.textContent = c === 0 ? 'Input' : c === n - 1 ? 'Output' : tight ? `H${c}` : `Hidden ${c}`;
    }
    this.inLabels.forEach((t, j) => {
      const nu = this.neurons[0][j];
      if (!nu) return;
      t.setAttribute('x', nu.x - 12); t.setAttribute('y', nu.y + s / 2 + 4);
    });
    // Links fan out from distinct ports, so that every link's own midpoint is on that link.
    for (const lk of this.links) {
      const a = this.neurons[lk.l][lk.j];
      const b = this.neurons[lk.l + 1][lk.i];
      const nOut = this.sizes[lk.l + 1]; const nIn = this.sizes[lk.l];
      const po = nOut > 1 ? (lk.i / (nOut - 1) - 0.5) * s * 0.5 : 0;
      const pi = nIn > 1 ? (lk.j / (nIn - 1) - 0.5) * s * 0.36 : 0;
      const x1 = a.x + s; const y1 = a.y + s / 2 + po;
      const x2 = b.x; const y2 = b.y + s / 2 + pi;
      const mx = (x1 + x2) / 2;
      lk.path.setAttribute('d', `M${x1.toFixed(1)},${y1.toFixed(1)} C${mx.toFixed(1)},${y1.toFixed(1)} ${mx.toFixed(1)},${y2.toFixed(1)} ${x2.toFixed(1)},${y2.toFixed(1)}`);
      lk.hit.setAttribute('d', lk.path.getAttribute('d'));
      lk.mx = mx; lk.my = (y1 + y2) / 2;
      // points along the curve, to find the link nearest to a click
      lk.samples = [];
      for (let k = 0; k <= 16; k++) {
        const u = k / 16; const v = 1 - u;
        lk.samples.push([v * v * v * x1 + 3 * v * v * u * mx + 3 * v * u * u * mx + u * u * u * x2,
          v * v * v * y1 + 3 * v * v * u * y1 + 3 * v * u * u * y2 + u * u * u * y2]);
      }
      lk.glyph.setAttribute('x', mx); lk.glyph.setAttribute('y', lk.my + 3.5);
      lk.cache = {}; lk.path.__last = {}; lk.glyph.__last = {};
    }
    // The three outcome lines sit under the output column; a tall output column (multi-class)
    // makes the stage taller instead of letting them spill over the buttons below.
    const outCol = this.neurons[n - 1] || [];
    const lastOut = outCol[outCol.length - 1];
    let H = H0;
    if (lastOut) {
      const ox = lastOut.x + s / 2; let oy = lastOut.y + s + 30;
      // When the columns are closer than the text is wide (a wide network), the lines would run over
      // the last hidden column: put them below the lowest neuron instead.
      const prev = n > 1 ? colX[n - 1] - colX[n - 2] - s : Infinity;
      if (prev < 96) {
        const lowest = Math.max(...this.neurons.flat().map((nu) => nu.y + s));
        oy = Math.max(oy, lowest + 22);
      }
      this.outcomeX = ox;
      this.outcomeLines.forEach((t, k) => { t.__last = {}; t.setAttribute('y', oy + k * 14); });
      H = Math.max(H0, Math.ceil(oy + 2 * 14 + 6));
    }
    if (this.stage.style.height !== `${H}px`) this.stage.style.height = `${H}px`;
    for (const e of [this.stage, this.buttons]) if (e.style.width !== `${W}px`) e.style.width = `${W}px`;
    this.W = W; this.H = H;
    this.svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    this.svg.setAttribute('width', W); this.svg.setAttribute('height', H);
    this.fo.setAttribute('width', W); this.fo.setAttribute('height', H);
    this.dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(W * this.dpr); this.canvas.height = Math.round(H * this.dpr);
    this.canvas.style.width = `${W}px`; this.canvas.style.height = `${H}px`;
    const narrow = n > 1 && span / (n - 1) < 84;
    for (const { c, wrap } of this.btnGroups) {
      wrap.style.left = `${colX[c] + s / 2}px`;
      wrap.lastChild.textContent = narrow ? String(this.sizes[c]) : `${this.sizes[c]} neuron${this.sizes[c] === 1 ? '' : 's'}`;
    }
    this.mapsDirty = true;
  }

  // ---- what each element shows ----------------------------------------------------------------

  /** Gradients to show right now: {gradW, gradB, delta, inputDelta, source, fromCol} or null. */
  shownGradients() {
    // Predict, then reveal: until Backward has run, no view gives the signs away
    if (this.predicting && this.phase !== 'backward-done' && this.phase !== 'backward') return null;
    if ((this.phase === 'backward' || this.phase === 'backward-done') && this.sample && this.sample.layers) {
      const L = this.sample.layers;
      return {
        source: 'sample',
        gradW: L.map((x) => x.grad_W), gradB: L.map((x) => x.grad_b), delta: L.map((x) => x.delta),
        inputDelta: this.sample.feature_grad || this.sample.input_feature_grad || null,
        fromCol: this.bwdCol,
      };
    }
    if (this.phase === 'idle' && this.training) {
      return {
        source: 'training', gradW: this.training.grad_W, gradB: this.training.grad_b,
        // the loss is the mean over the training set, so a bias's gradient is its neuron's mean δ
        delta: this.training.grad_b, inputDelta: null, fromCol: 0,
      };
    }
    return null;
  }

  /**
   * What full width (and a full halo) stands for, {w, d}. Forward/Backward and Next sample share one
   * scale: the largest |∂L/∂w| (|δ|) any single training sample has now, as the server measures it, so
   * two samples can be compared by eye. The training view shows a mean, far smaller than any one
   * sample's pull, and gets its own: the largest mean |∂L/∂w| (mean δ) it shows now.
   */
  widthScale(grads) {
    if (!grads) return { w: 0, d: 0 };
    const largest = (arrays, from) => {
      let m = 0;
      arrays.forEach((A, l) => {
        if (l < from || !A) return;
        for (const v of A.flat(2)) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
      });
      return m;
    };
    if (grads.source === 'training') return { w: largest(grads.gradW, 0), d: largest(grads.delta, 0) };
    if (this.scale) return { w: this.scale.w, d: this.scale.d };
    // before the first frame has measured the shared scale: this view's own largest values
    return { w: largest(grads.gradW, grads.fromCol), d: largest(grads.delta, grads.fromCol - 1) };
  }

  sampleValue(c, i) {
    const t = this.sample;
    if (!t) return null;
    if (c === 0) return t.inputs ? t.inputs[i] : null;
    const layer = t.layers && t.layers[c - 1];
    return layer && layer.a ? layer.a[i] : null;
  }

  /** Set an attribute (or text) only when it changed; the last values live on the element. */
  set(el, _owner, key, value) {
    const cache = el.__last || (el.__last = {});
    if (cache[key] === value) return;
    cache[key] = value;
    if (key === 'text') el.textContent = value;
    else if (value === null) el.removeAttribute(key);
    else el.setAttribute(key, value);
  }

  /**
   * A gradient under GREY_BELOW of full width draws grey ("no pull either way") in every view. While
   * training, with hysteresis: it takes a colour above twice that and loses it below; and a link keeps
   * the colour it took for at least HOLD_MS. Once a network has learned, its mean gradient hovers
   * around 0 and its sign would flip every step; this keeps the picture still (at most one change per
   * link in HOLD_MS), and shows the trend.
   */
  steadySign(sign, frac, lk, now) {
    let want = sign;
    if (frac < GREY_BELOW) want = 'none';
    else if (frac < 2 * GREY_BELOW && lk.trainSign !== sign) want = 'none';
    const shown = lk.trainSign ?? 'none';
    if (want === shown) return shown;
    if (lk.trainSince !== undefined && now - lk.trainSince < HOLD_MS) return shown;
    lk.trainSign = want; lk.trainSince = now;
    return want;
  }

  /** Say under the view what the links and halos mean right now, and what full width stands for. */
  drawKey(grads, scale) {
    if (!this.keyEl) return;
    const p = palette();
    const mode = grads ? grads.source : (this.predicting ? 'predict' : 'weights');
    const full = scale.w > 0 ? fmt(scale.w, 2) : '';
    const ring = scale.d > 0 ? fmt(scale.d, 2) : '…';
    const text = `${mode}|${p.posName}|${p.incName}|${full}|${ring}`;
    if (text === this.keyText) return;
    this.keyText = text;
    const chip = (color, label) => {
      const c = document.createElement('span'); c.className = 'chip';
      const e = document.createElement('span'); e.className = 'sw'; e.style.background = color;
      c.append(e, label);
      return c;
    };
    if (mode === 'weights' || mode === 'predict') {
      this.keyEl.replaceChildren('Links show the weights:', chip(p.pos, `${p.posName} +`), chip(p.neg, `${p.negName} −`),
        '· thicker = larger |w| · ', mode === 'predict' ? 'the gradients stay hidden until Backward' : 'click a link to inspect or edit it');
      return;
    }
    const whose = mode === 'sample' ? "this sample's ∂L/∂w"
      : "the whole training set's mean ∂L/∂w, recomputed every frame and smoothed over half a second (one batch alone would flicker); a link keeps a colour at least 6 s";
    const fullIs = mode === 'sample' ? 'the largest any one training sample has now' : 'the largest mean |∂L/∂w| now';
    const pct = `${Math.round(GREY_BELOW * 100)}%`;
    const scaleText = full ? ` Width grows as √|∂L/∂w|: full width = ${full}, ${fullIs}.` : '';
    this.keyEl.replaceChildren(
      `Links show ${whose}:`, chip(p.increase, `${p.incName} ▲ increase`), chip(p.decrease, `${p.decName} ▼ decrease`),
      chip(NEUTRAL, `grey: under ${pct} of full width, no real pull`),
      `${scaleText} Halo = |δ| of the neuron: its ring grows as √|δ|, full ring = ${ring}; none under ${pct}.`);
  }

  drawSvg() {
    const grads = this.shownGradients();
    const scale = this.widthScale(grads);
    this.drawKey(grads, scale);
    // Thousands of changing SVG attributes cost more than a frame: with a big network, the live training
    // gradient is redrawn at 4 Hz (the heatmaps, plane and rail keep the full rate).
    const now = performance.now();
    const throttled = this.links.length > 300 && this.phase === 'idle' && now - this.linkTime < 250;
    this.linksPending = throttled;
    if (throttled) { this.drawTitles(now); return; }
    this.linkTime = now;
    this.drawLinks(grads, scale.w);
    this.drawTitles(now);
    this.drawOutcome();
    this.neurons.forEach((col, c) => col.forEach((nu, i) => this.drawNeuron(nu, c, i, grads, scale.d)));
  }

  /** One link: its gradient's sign and size when gradients are shown, else its weight's. */
  linkLook(lk, grads, gmax, manyLinks) {
    const w = at(this.weights, lk.l, lk.i, lk.j) ?? 0;
    const g = grads && lk.l >= grads.fromCol ? at(grads.gradW, lk.l, lk.i, lk.j) : null;
    if (g === null || g === undefined) {
      // during Forward, links the signal has not crossed yet stay faint
      return { w, g: null, sign: 'none', stroke: weightColor(w), width: 0.6 + 3.4 * Math.min(Math.abs(w), 2.5) / 2.5,
        dash: null, glyph: '', opacity: this.isLayered && lk.l + 1 > this.fwdCol ? '0.18' : '0.7' };
    }
    const frac = gmax > 0 ? Math.abs(g) / gmax : 0;
    let sign = g < 0 ? 'increase' : g > 0 ? 'decrease' : 'none';
    sign = grads.source === 'training' ? this.steadySign(sign, frac, lk, performance.now())
      : (frac < GREY_BELOW ? 'none' : sign);
    return {
      w, g, sign,
      stroke: sign === 'none' ? NEUTRAL : gradientColor(g),
      width: 0.8 + 7 * Math.sqrt(Math.min(1, frac)),   // √: small pulls stay visible
      dash: sign === 'decrease' ? '7 4' : null,
      glyph: sign !== 'none' && frac >= 0.2 && !manyLinks ? (g < 0 ? '▲' : '▼') : '',
      opacity: '0.95',
    };
  }

  drawLinks(grads, gmax) {
    const manyLinks = this.links.length > 400;
    let selected = null; let selWidth = 0;
    for (const lk of this.links) {
      const c = lk.cache;
      const look = this.linkLook(lk, grads, gmax, manyLinks);
      const sel = this.selectedLink;
      if (sel && sel.l === lk.l && sel.i === lk.i && sel.j === lk.j) { look.opacity = '1'; selected = lk; selWidth = look.width; }
      // the layer the signal is crossing right now: marching dashes, forwards or backwards
      const flow = this.phase === 'forward' && lk.l === this.fwdCol - 1 ? 'link flow'
        : this.phase === 'backward' && lk.l === this.bwdCol ? 'link flow-back' : 'link';
      this.set(lk.path, c, 'class', flow);
      this.set(lk.path, c, 'stroke', look.stroke);
      this.set(lk.path, c, 'stroke-width', look.width.toFixed(2));
      this.set(lk.path, c, 'stroke-dasharray', look.dash);
      this.set(lk.path, c, 'stroke-opacity', look.opacity);
      this.set(lk.path, c, 'data-grad-sign', look.sign);
      lk.w = look.w; lk.g = look.g;
      this.drawGuess(lk, look);
    }
    if (selected) {
      this.selPath.setAttribute('d', selected.path.getAttribute('d'));
      this.selPath.setAttribute('stroke-width', (selWidth + 7).toFixed(1));
      this.selPath.setAttribute('visibility', 'visible');
    } else this.selPath.setAttribute('visibility', 'hidden');
  }

  /** A learner's guess on a link: its arrow and "?" until Backward reveals the sign, then ✓ or ✗. */
  drawGuess(lk, look) {
    const guess = this.guesses.get(`${lk.l},${lk.i},${lk.j}`);
    let glyph = look.glyph; let fill = look.stroke;
    if (guess) {
      const revealed = look.g !== null && this.phase === 'backward-done';
      glyph = revealed ? ((look.g < 0) === (guess === 'increase') ? '✓' : '✗') : (guess === 'increase' ? '▲?' : '▼?');
      fill = revealed ? (glyph === '✓' ? '#7ee2a8' : '#ff7b7b') : '#ffffff';
    }
    this.set(lk.path, lk.cache, 'data-guess', guess || null);
    this.set(lk.glyph, lk.cache, 'text', glyph);
    this.set(lk.glyph, lk.cache, 'fill', fill);
  }

  /** Link and bias tooltips (their <title>s), a few times a second at most. */
  drawTitles(now) {
    this.titleEvery = this.links.length > 300 ? 1000 : 200;
    this.titlePending = now - this.titleTime <= this.titleEvery;
    if (this.titlePending) return;
    this.titleTime = now;
    for (const lk of this.links) {
      const w = at(this.weights, lk.l, lk.i, lk.j);
      const g = lk.g;
      const text = `weight ${this.weightName(lk.l, lk.i, lk.j)} (${this.linkName(lk.l, lk.i, lk.j)}) = ${fmt(w, 5)}` +
        (g !== null && g !== undefined ? ` · ∂L/∂w = ${fmt(g, 4)}` : '') + ' · click to inspect or edit';
      if (lk.cache.titleText !== text) { lk.title.textContent = text; lk.cache.titleText = text; }
    }
    this.neurons.forEach((col, c) => col.forEach((nu, i) => {
      if (!nu.bias) return;
      const t = `bias ${this.biasName(c - 1, i)} of ${this.neuronName(c, i)} = ${fmt(at(this.biases, c - 1, i), 5)} · click to edit`;
      if (nu.cache.btitle !== t) { nu.bias.firstChild.textContent = t; nu.cache.btitle = t; }
    }));
  }

  /** Under the output: what the network predicted for this sample, the truth, and the loss. */
  drawOutcome() {
    const lines = this.outcomeText(this.isLayered && this.fwdCol >= this.nCols - 1 ? this.sample : null);
    // centred under the output, but kept inside the view (monospace: about 6.7 px per character)
    const half = 3.4 * Math.max(0, ...lines.map((x) => x.length));
    const ox = Math.min(this.outcomeX || 0, (this.W || 0) - 4 - half);
    this.outcomeLines.forEach((t, k) => { this.set(t, null, 'text', lines[k] || ''); this.set(t, null, 'x', ox.toFixed(1)); });
  }

  /** One neuron: lit or dim, its value and activation bar, its halo (|δ|), badge, ring and bias. */
  drawNeuron(nu, c, i, grads, dmax) {
    const cc = nu.cache;
    const s = this.s;
    const layered = this.isLayered;
    const lit = layered && c <= this.fwdCol;
    this.set(nu.g, cc, 'data-lit', lit ? '1' : null);
    this.set(nu.dim, cc, 'visibility', layered && !lit ? 'visible' : 'hidden');
    const v = lit ? this.sampleValue(c, i) : null;
    // values under the boxes only where there is room for them (hover always shows them)
    const vtext = v === null || v === undefined || this.pitch - s < 13 ? '' : fmt(v, 3);
    this.set(nu.value, cc, 'text', vtext);
    // a dark plate under the value, so a halo's edge behind it never reads as a minus sign
    if (vtext) {
      const vw = 6.1 * vtext.length + 4;
      this.set(nu.vbg, cc, 'width', vw.toFixed(1));
      this.set(nu.vbg, cc, 'x', (nu.x + s / 2 - vw / 2).toFixed(1));
      this.set(nu.vbg, cc, 'visibility', 'visible');
    } else this.set(nu.vbg, cc, 'visibility', 'hidden');
    this.drawActivationBar(nu, v);
    this.drawHalo(nu, c, i, grads, dmax);
    const badge = c > 0 && this.badges ? at(this.badges, c - 1, i) : null;
    this.set(nu.badge, cc, 'text', badge ? this.badgeGlyphs[badge] || '!' : '');
    this.set(nu.badge, cc, 'x', (nu.x + 3).toFixed(1));
    this.set(nu.badge, cc, 'y', (nu.y + 11).toFixed(1));
    this.set(nu.g, cc, 'data-badge', badge || null);
    // the accessible name holds every text drawn inside the group, in drawing order (WCAG 2.5.3)
    const drawn = [vtext, nu.mark.textContent, nu.badge.textContent].filter(Boolean).join(' ');
    const meaning = [v !== null && v !== undefined ? 'activation' : '', badge || ''].filter(Boolean).join(', ');
    this.set(nu.g, cc, 'aria-label', `neuron ${this.neuronName(c, i)}${drawn ? ` ${drawn}` : ''}${meaning ? ` (${meaning})` : ''}`);
    const selected = this.selectedNeuron && this.selectedNeuron.c === c && this.selectedNeuron.i === i;
    this.set(nu.ring, cc, 'visibility', selected ? 'visible' : 'hidden');
    if (nu.bias) {
      const b = at(this.biases, c - 1, i) ?? 0;
      const gb = grads && c - 1 >= grads.fromCol ? at(grads.gradB, c - 1, i) : null;
      const shows = gb !== null && gb !== undefined && dmax > 0 && Math.abs(gb) >= GREY_BELOW * dmax;
      this.set(nu.bias, cc, 'fill', shows ? gradientColor(gb) : gb !== null && gb !== undefined ? NEUTRAL : weightColor(b));
    }
  }

  /** The activation bar on the box's right edge: up (blue) for a > 0, down (magenta) for a < 0. */
  drawActivationBar(nu, v) {
    const cc = nu.cache; const s = this.s;
    if (v === null || v === undefined || !Number.isFinite(v)) { this.set(nu.abar, cc, 'visibility', 'hidden'); return; }
    const len = Math.max(1, (s / 2 - 2) * Math.min(1, Math.abs(v)));
    this.set(nu.abar, cc, 'x', (nu.x + s + 2).toFixed(1));
    this.set(nu.abar, cc, 'y', (v >= 0 ? nu.y + s / 2 - len : nu.y + s / 2).toFixed(1));
    this.set(nu.abar, cc, 'height', len.toFixed(1));
    this.set(nu.abar, cc, 'fill', classColor(v >= 0 ? 1 : 0));
    this.set(nu.abar, cc, 'visibility', 'visible');
  }

  /**
   * The halo: a ring around the box whose width grows as √(|δ| / full), from 1 px to half the gap
   * between two boxes (so neighbouring halos never merge). Under GREY_BELOW of full there is none.
   */
  drawHalo(nu, c, i, grads, dmax) {
    const cc = nu.cache; const s = this.s;
    let d = grads && c >= grads.fromCol ? (c === 0 ? at(grads.inputDelta, i) : at(grads.delta, c - 1, i)) : null;
    const frac = d !== null && dmax > 0 ? Math.min(1, Math.abs(d) / dmax) : 0;
    if (d !== null && (!Number.isFinite(d) || frac < GREY_BELOW)) d = null;
    if (d === null) {
      this.set(nu.halo, cc, 'visibility', 'hidden');
      this.set(nu.g, cc, 'data-halo', null);
      this.set(nu.g, cc, 'data-delta', null);
      this.set(nu.mark, cc, 'text', '');
      return;
    }
    const room = Math.max(4, Math.min(16, (this.pitch - s) / 2 - 1));
    const pad = 1 + (room - 1) * Math.sqrt(frac);
    const color = gradientColor(d);
    this.set(nu.halo, cc, 'x', (nu.x - pad).toFixed(1));
    this.set(nu.halo, cc, 'y', (nu.y - pad).toFixed(1));
    this.set(nu.halo, cc, 'width', (s + 2 * pad).toFixed(1));
    this.set(nu.halo, cc, 'height', (s + 2 * pad).toFixed(1));
    this.set(nu.halo, cc, 'rx', (5 + pad).toFixed(1));
    this.set(nu.halo, cc, 'fill', color);
    this.set(nu.halo, cc, 'stroke', color);
    this.set(nu.halo, cc, 'visibility', 'visible');
    this.set(nu.g, cc, 'data-halo', d > 0 ? '+' : d < 0 ? '-' : null);
    this.set(nu.g, cc, 'data-delta', String(d));
    this.set(nu.mark, cc, 'text', d < 0 ? '▲' : d > 0 ? '▼' : '');
    this.set(nu.mark, cc, 'fill', color);
  }

  /** Neuron heatmaps, and where the selected sample sits on every lit map. */
  drawMaps() {
    const lit = this.isLayered && this.sample && this.sample.x ? Math.min(this.fwdCol, this.sizes.length - 1) : -1;
    this.mapPainter.draw(this.canvas.getContext('2d', CTX), {
      maps: this.maps, sizes: this.sizes, activations: this.activations, neurons: this.neurons,
      s: this.s, dpr: this.dpr, point: lit >= 0 ? this.sample.x : null, litUpTo: lit,
    });
  }

  draw() {
    if (this.structDirty) { this.layout(); this.structDirty = false; this.dirty = true; }
    if (this.titlePending && performance.now() - this.titleTime > this.titleEvery) this.dirty = true;
    if (this.linksPending && performance.now() - this.linkTime >= 250) this.dirty = true;
    let drew = false;
    if (this.mapsDirty) { this.drawMaps(); this.mapsDirty = false; drew = true; }
    if (this.dirty) { this.drawSvg(); this.dirty = false; drew = true; }
    return drew;
  }

  /** Under the output: what the network predicted for this sample, the truth, and the loss. */
  outcomeText(t) {
    if (!t) return [];
    const first = (v) => (Array.isArray(v) ? first(v[0]) : v);
    const flatArr = (v) => (Array.isArray(v) && Array.isArray(v[0]) ? v[0] : v);
    const loss = `loss ${fmt(first(t.loss), 4)}`;
    const target = first(t.target);
    if (t.loss_reads === 'classes' && Array.isArray(t.prediction)) {
      const p = flatArr(t.prediction);
      let k = 0; p.forEach((v, q) => { if (v > p[k]) k = q; });
      return [`predicts class ${k} (p ${fmt(p[k], 3)})`, `true class ${fmt(target)}`, loss];
    }
    if (t.loss_reads === 'probability') return [`P(class 1) = ${fmt(first(t.prediction), 3)}`, `true class ${fmt(target)}`, loss];
    return [`output ${fmt(first(t.prediction), 4)}`, `target ${fmt(target, 4)}`, loss];
  }

  // ---- keyboard --------------------------------------------------------------------------------

  /** Enter or Space opens the focused neuron or bias; the arrows move between them: up and down
   * through a column (each neuron, then its bias), left and right to the next column. */
  onKey(ev) {
    const t = ev.target instanceof Element ? ev.target : null;
    const bias = t && t.closest('.bias');
    const n = t && t.closest('.neuron');
    if (!bias && !n) return;
    const c = bias ? +bias.dataset.layer + 1 : +n.dataset.col;
    const i = bias ? +bias.dataset.i : +n.dataset.index;
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault(); ev.stopPropagation();
      if (bias) this.handlers.onBias(c - 1, i); else this.handlers.onNeuron(c, i);
      return;
    }
    const items = (col) => this.neurons[col].flatMap((nu) => (nu.bias ? [nu.g, nu.bias] : [nu.g]));
    let next = null;
    if (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') {
      const list = items(c);
      const k = list.indexOf(bias || n) + (ev.key === 'ArrowDown' ? 1 : -1);
      next = list[Math.max(0, Math.min(list.length - 1, k))];
    } else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
      const c2 = Math.max(0, Math.min(this.nCols - 1, c + (ev.key === 'ArrowRight' ? 1 : -1)));
      const col = this.neurons[c2];
      next = col[Math.min(col.length - 1, i)].g;
    } else if (ev.key === 'Home' || ev.key === 'End') {
      next = ev.key === 'Home' ? this.neurons[0][0].g : this.neurons[this.nCols - 1][0].g;
    } else return;
    ev.preventDefault(); ev.stopPropagation();   // not the page's own arrow key (Step)
    this.focusItem(next);
  }

  focusItem(el) {
    if (!el) return;
    if (el.getAttribute('tabindex') !== '0') {
      for (const e of this.svg.querySelectorAll('[data-roving]')) { e.setAttribute('tabindex', -1); e.removeAttribute('data-roving'); }
      el.setAttribute('tabindex', 0); el.setAttribute('data-roving', '');
    }
    el.focus();
  }

  /** Put keyboard focus back on what the inspector showed (the selected neuron, or a link's target). */
  focusSelected(kind, target) {
    let el = null;
    if (kind === 'bias' && target) el = this.neurons[target.l + 1]?.[target.i]?.bias;
    else if (kind === 'link' && target) el = this.neurons[target.l + 1]?.[target.i]?.g;
    else if (kind === 'neuron' && target) el = this.neurons[target.c]?.[target.i]?.g;
    if (!el) el = this.svg.querySelector('.neuron[tabindex="0"]');
    if (el) { this.focusItem(el); return true; }
    return false;
  }

  // ---- names, hover and click -----------------------------------------------------------------

  // One naming scheme everywhere (the Learn panel states it): layers and neurons count from 1.
  // Hidden neuron k of layer l is h{l}.{k}; the output is "out" (out.k when there are several);
  // W{l} and b{l} feed layer l, and W{l}[i,j] runs from neuron j of the layer before to neuron i.
  neuronName(c, i) {
    if (c === 0) return this.inputLabels[i] || `x${i + 1}`;
    if (c === this.nCols - 1) return this.sizes[c] > 1 ? `out.${i + 1}` : 'out';
    return `h${c}.${i + 1}`;
  }
  weightName(l, i, j) { return `W${l + 1}[${i + 1},${j + 1}]`; }
  biasName(l, i) { return `b${l + 1}[${i + 1}]`; }
  linkName(l, i, j) { return `${this.neuronName(l, j)} → ${this.neuronName(l + 1, i)}`; }

  target(ev) {
    const t = ev.target;
    if (!(t instanceof Element)) return null;
    const link = t.closest('.link, .link-hit');
    if (link) return { kind: 'link', l: +link.dataset.layer, i: +link.dataset.i, j: +link.dataset.j };
    const bias = t.closest('.bias');
    if (bias) return { kind: 'bias', l: +bias.dataset.layer, i: +bias.dataset.i };
    const n = t.closest('.neuron');
    if (n) return { kind: 'neuron', c: +n.dataset.col, i: +n.dataset.index };
    return null;
  }

  /**
   * Links can cross, and their hit areas (10 px wide) overlap near the neurons. Take the link whose
   * curve passes nearest to the pointer, so that a click on a drawn link always opens that link.
   */
  pickLink(ev, t) {
    const r = this.svg.getBoundingClientRect();
    const x = ev.clientX - r.left; const y = ev.clientY - r.top;
    let best = null; let bestD = Infinity;
    for (const lk of this.links) {
      for (let k = 1; k < lk.samples.length; k++) {
        const d = segmentDistance(x, y, lk.samples[k - 1], lk.samples[k]);
        if (d < bestD) { bestD = d; best = lk; }
      }
    }
    return best && bestD <= 6 ? { kind: 'link', l: best.l, i: best.i, j: best.j } : t;
  }

  click(ev) {
    // a tap leaves no pointer to move away: its tooltip would stay over the neurons
    if (ev.pointerType && ev.pointerType !== 'mouse') this.tip.hidden = true;
    let t = this.target(ev);
    if (!t) return;
    if (t.kind === 'link') t = this.pickLink(ev, t);
    if (t.kind === 'link') this.handlers.onLink(t.l, t.i, t.j);
    else if (t.kind === 'bias') this.handlers.onBias(t.l, t.i);
    else this.handlers.onNeuron(t.c, t.i);
  }

  hover(ev) {
    const t = this.target(ev);
    const neuron = t && t.kind === 'neuron' ? `${t.c},${t.i}` : null;
    if (neuron !== this.hovered) {
      this.hovered = neuron;
      if (this.handlers.onHoverNeuron) this.handlers.onHoverNeuron(t && t.kind === 'neuron' ? t : null);
    }
    if (!t) { this.tip.hidden = true; return; }
    let text = '';
    if (t.kind === 'link') {
      const w = at(this.weights, t.l, t.i, t.j);
      const lk = this.links.find((x) => x.l === t.l && x.i === t.i && x.j === t.j);
      const g = lk && lk.g !== undefined ? lk.g : null;
      text = `${this.linkName(t.l, t.i, t.j)}\nweight ${fmt(w, 5)}`;
      if (g !== null) text += `\n∂L/∂w ${fmt(g, 4)} (${g < 0 ? '▲ increase' : g > 0 ? '▼ decrease' : 'no change'})`;
      text += '\nclick to inspect or edit';
    } else if (t.kind === 'bias') {
      const b = at(this.biases, t.l, t.i);
      text = `bias of ${this.neuronName(t.l + 1, t.i)}\n${fmt(b, 5)}\nclick to edit`;
    } else {
      text = this.neuronName(t.c, t.i);
      if (t.c > 0 && this.activations[t.c - 1]) text += ` (${this.activations[t.c - 1]})`;
      const v = this.sampleValue(t.c, t.i);
      if (this.sample && v !== null && v !== undefined) {
        const layer = t.c > 0 && this.sample.layers ? this.sample.layers[t.c - 1] : null;
        text += `\na ${fmt(v, 4)}`;
        if (layer) text += ` · z ${fmt(at(layer.z, t.i), 4)}\n∂L/∂a ${fmt(at(layer.grad_a, t.i), 4)} · δ ${fmt(at(layer.delta, t.i), 4)}`;
      }
      text += '\nclick for z, a, ∂L/∂a, δ';
    }
    this.tip.textContent = text;
    placeTip(this.tip, this.stage.parentElement, ev);
  }
}
