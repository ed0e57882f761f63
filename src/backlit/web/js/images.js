// The images view: the 8×8 digits, an MLP or a small CNN, its backward pass, and ∂L/∂x turned on the
// image (saliency maps, adversarial steps). Python computes everything (backlit.playground.images);
// this module draws what the messages say and sends what the learner does.
//
//   (main.js imports ImagesView from this module)
//   const view = new ImagesView({ send, flash });   // builds its section after <main class="layout"> on first use
//   view.addEntry(thumbsElement, schema.views);     // the "Digits (8x8 images)" choice beside the datasets
//   view.onMessage(msg) -> true when it was the view's;  view.onFrame(header, arrays)
//
// Keyboard while the view is open: space trains or pauses, F forward, B backward, N next digit.
// Colours: orange means the loss wants this number to grow (∂L/∂· < 0), green to shrink; every
// orange or green mark also carries ▲ or ▼. Weights themselves use the palette's idle signs.

import { el, fmt } from './format.js';
import { palette } from './colors.js';

const STAGE_MS = 420;
const DRAW_SIDE = 128;          // the drawing's pixels sent to the server (≤ its max_drawing_side)
const AMPLIFY = 5;              // the perturbation is drawn this many times larger

function reducedMotion() {
  return typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
}

function rgb(hex) {
  const n = parseInt(String(hex || '#888888').slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

const BG = [18, 24, 38];
const mix = (a, b, t) => [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t));

/** Paint a 2-D array (rows of numbers) into a canvas of its own size (CSS scales it, pixelated). */
function paint(canvas, rows, colour) {
  const h = rows.length; const w = h ? rows[0].length : 0;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(w, h);
  let k = 0;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const [R, G, B] = colour(rows[r][c]);
      img.data[k++] = R; img.data[k++] = G; img.data[k++] = B; img.data[k++] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

const maxAbs = (rows) => rows.flat().reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
const ink = (v) => { const t = Math.max(0, Math.min(1, v)); return mix(BG, [240, 242, 248], t); };

/** Gradient colours: orange where the loss wants more (v < 0), green where it wants less. */
function gradColour(max) {
  const p = palette(); const inc = rgb(p.increase); const dec = rgb(p.decrease);
  return (v) => mix(BG, v < 0 ? inc : dec, Math.min(1, Math.abs(v) / max));
}

/** Weight colours: the palette's idle positive and negative signs (never orange or green). */
function weightColour(max) {
  const p = palette(); const pos = rgb(p.pos); const neg = rgb(p.neg);
  return (v) => mix(BG, v >= 0 ? pos : neg, Math.min(1, Math.abs(v) / max));
}

const toRows = (flat, w) => Array.from({ length: flat.length / w }, (_, r) => Array.from(flat.slice(r * w, r * w + w)));

function pixelCanvas(cls, label) {
  return el('canvas', { class: `img-px ${cls}`, width: 8, height: 8, role: 'img', 'aria-label': label });
}

export class ImagesView {
  constructor({ send, flash }) {
    this.send = send;
    this.flash = flash || (() => {});
    this.active = false;
    this.schema = null;
    this.state = null;
    this.header = null;
    this.trace = null;
    this.attack = null;
    this.timers = [];
    this.history = [];
    this.root = null;              // built on first use: a page that never opens the view holds none of it
    window.addEventListener('keydown', (e) => this.onKey(e), true);
  }

  // ---- building ---------------------------------------------------------------------------------
  build() {
    const b = (id, text, title) => el('button', { id, type: 'button', class: 'ghost-btn', title }, text);
    this.networkSelect = el('select', { id: 'img-network', 'aria-label': 'Images view network' });
    this.speed = el('input', { id: 'img-speed', type: 'range', min: 1, max: 9, step: 1, 'aria-label': 'Images view training speed' });
    this.speedOut = el('output', { id: 'img-speed-out' });
    this.counter = el('span', { id: 'img-counter', class: 'muted' }, 'step 0');
    this.statusText = el('span', { id: 'img-status', role: 'status', 'aria-live': 'polite' }, 'ready');
    this.playBtn = el('button', { id: 'img-play', type: 'button', class: 'play-btn', title: 'Train continuously (space)' }, 'Train');
    const toolbar = el('div', { class: 'img-toolbar', role: 'group', 'aria-label': 'Images view controls' },
      b('img-back', '← 2-D datasets', 'Back to the plane and its 2-D datasets'),
      el('label', { class: 'inline' }, el('span', {}, 'Network'), this.networkSelect),
      this.playBtn, b('img-step', 'Step', 'Train one batch'), b('img-reset', 'Reset', 'New weights, epoch 0'),
      el('label', { class: 'inline' }, el('span', {}, 'Speed'), this.speed, this.speedOut),
      this.counter, this.statusText);

    // the digit, the gallery, the drawing
    this.input = pixelCanvas('img-big', 'The input digit, 8×8 pixels');
    this.inputGrad = pixelCanvas('img-mid', '∂L/∂x on the input, after Backward');
    this.inputGradBox = el('figure', { class: 'img-grad', hidden: true }, this.inputGrad,
      el('figcaption', {}, '∂L/∂x: the backward pass reaches the pixels (orange ▲ more ink lowers the loss)'));
    this.caption = el('p', { id: 'img-caption', class: 'img-caption' });
    this.gallery = el('div', { id: 'img-gallery', class: 'img-gallery', role: 'group', 'aria-label': 'Test digits: click one to select it' });
    this.pad = el('canvas', { id: 'img-draw', class: 'img-draw', width: DRAW_SIDE, height: DRAW_SIDE,
      'aria-label': 'Drawing pad: draw a digit with the mouse, a finger or a pen' });
    const inputCol = el('section', { class: 'col img-col', 'aria-labelledby': 'img-h-input' },
      el('h2', { id: 'img-h-input' }, 'Input'),
      this.input, this.caption, this.inputGradBox,
      el('div', { class: 'img-row' }, b('img-next', 'Next digit', 'The next test digit (N)')),
      el('h2', {}, 'Test digits'), this.gallery,
      el('h2', {}, 'Draw a digit'), this.pad,
      el('div', { class: 'img-row' }, b('img-clear', 'Clear', 'Clear the drawing')),
      this.drawNote = el('p', { class: 'muted img-note' }));

    // the network, stage by stage
    this.stageInput = el('div', { class: 'img-stage', 'data-stage': 'input' });
    this.hidden = el('div', { id: 'img-hidden', class: 'img-stage img-tiles', 'data-stage': 'hidden', role: 'group', 'aria-label': 'Hidden units' });
    this.outputs = el('div', { id: 'img-outputs', class: 'img-stage img-outputs', 'data-stage': 'output', role: 'group', 'aria-label': 'Outputs' });
    this.tileWords = el('p', { class: 'muted img-note', id: 'img-tile-words' });
    this.aggregation = el('p', { class: 'muted img-note', id: 'img-aggregation' });
    this.detail = el('div', { id: 'img-detail', class: 'img-detail', 'aria-live': 'polite' }, 'Click a tile or an output to see its numbers.');
    this.phase = el('span', { id: 'img-phase', class: 'muted' }, 'idle');
    const netCol = el('section', { class: 'col img-col img-net', 'aria-labelledby': 'img-h-net' },
      el('h2', { id: 'img-h-net' }, 'Network: forward and backward'),
      el('div', { class: 'img-row' }, b('img-forward', 'Forward', 'Animate the forward pass (F)'),
        b('img-backward', 'Backward', 'Animate the backward pass (B)'), this.phase),
      el('div', { class: 'legend' }, el('span', { class: 'sw sw-inc' }), ' orange ▲: the loss wants it higher · ',
        el('span', { class: 'sw sw-dec' }), ' green ▼: lower'),
      this.tileWords, this.hidden, this.outputs, this.aggregation, this.detail);

    // training
    this.lossCanvas = el('canvas', { id: 'img-loss', class: 'img-curve', width: 360, height: 120, role: 'img', 'aria-label': 'Loss curves' });
    this.accCanvas = el('canvas', { id: 'img-acc', class: 'img-curve', width: 360, height: 120, role: 'img', 'aria-label': 'Accuracy curves' });
    this.metrics = el('p', { id: 'img-metrics', class: 'img-metrics' });
    this.confusion = el('table', { id: 'img-confusion', class: 'img-confusion' });
    const trainCol = el('section', { class: 'col img-col', 'aria-labelledby': 'img-h-train' },
      el('h2', { id: 'img-h-train' }, 'Training'), this.metrics,
      el('div', { class: 'muted img-note' }, 'Loss: train (solid), test (dashed)'), this.lossCanvas,
      el('div', { class: 'muted img-note' }, 'Accuracy: train (solid), test (dashed)'), this.accCanvas,
      el('h2', {}, 'Confusion matrix (test digits)'),
      el('p', { class: 'muted img-note' }, 'Rows: the true digit. Columns: what the network said.'), this.confusion);

    // saliency
    this.maps = el('div', { id: 'img-maps', class: 'img-maps' });
    const salCol = el('section', { class: 'col img-col img-wide', 'aria-labelledby': 'img-h-sal' },
      el('h2', { id: 'img-h-sal' }, 'Saliency: ∂L/∂x on the image'),
      el('p', { class: 'muted img-note' }, 'The backward pass gives the loss\'s gradient for every pixel as well as every weight. ' +
        'Orange ▲: more ink here would lower the loss; green ▼: less ink would.'),
      el('div', { class: 'img-row' }, b('img-explain', 'Explain this digit', 'Compute the three maps for this digit')), this.maps);

    // adversarial
    this.eps = el('input', { id: 'img-eps', type: 'range', step: 0.005, 'aria-label': 'ε' });
    this.epsOut = el('output', { id: 'img-eps-out' });
    this.steps = el('input', { id: 'img-steps', type: 'number', min: 1, max: 50, 'aria-label': 'Steps' });
    this.target = el('select', { id: 'img-target', 'aria-label': 'Target class' });
    this.advPert = pixelCanvas('img-mid', `The perturbation, ×${AMPLIFY}`);
    this.advImage = pixelCanvas('img-mid', 'The perturbed digit');
    this.advProbs = el('div', { class: 'img-outputs img-small' });
    this.advStep = el('p', { id: 'img-attack-step', class: 'img-caption', 'aria-live': 'polite' });
    this.advBudget = el('p', { id: 'img-attack-budget', class: 'muted img-note' });
    const advCol = el('section', { class: 'col img-col img-wide', 'aria-labelledby': 'img-h-adv' },
      el('h2', { id: 'img-h-adv' }, 'Adversarial: x ← x + ε·sign(∇ₓL)'),
      el('p', { class: 'muted img-note' }, 'The same ∂L/∂x, used to push every pixel a little uphill on the loss (FGSM). ' +
        'More steps: the iterated method, each step kept within ε of the original. A target walks downhill on the loss of the class you pick instead.'),
      el('div', { class: 'img-row' },
        el('label', { class: 'inline' }, el('span', {}, 'ε'), this.eps, this.epsOut),
        el('label', { class: 'inline' }, el('span', {}, 'Steps'), this.steps),
        el('label', { class: 'inline' }, el('span', {}, 'Target'), this.target),
        b('img-attack-run', 'Attack', 'Run the attack, step by step')),
      el('div', { class: 'img-row img-adv' },
        el('figure', {}, this.advPert, el('figcaption', {}, `perturbation ×${AMPLIFY}`)),
        el('figure', {}, this.advImage, el('figcaption', {}, 'the image')), this.advProbs),
      this.advStep, this.advBudget);

    this.root = el('section', { id: 'images-view', class: 'images-view', hidden: true, 'aria-label': 'Images view' },
      toolbar, el('div', { class: 'img-grid' }, inputCol, netCol, trainCol, salCol, advCol));
    const main = document.querySelector('main.layout');
    (main ? main.parentNode : document.body).insertBefore(this.root, main ? main.nextSibling : null);
    this.wire();
  }

  wire() {
    const on = (id, fn) => this.root.querySelector(`#${id}`).addEventListener('click', fn);
    on('img-back', () => { this.stop(); this.send('images_close'); });
    on('img-step', () => { this.stop(); this.send('images_step'); });
    on('img-reset', () => { this.stop(); this.send('images_reset'); });
    on('img-next', () => this.send('images_next'));
    on('img-forward', () => this.forward());
    on('img-backward', () => this.backward());
    on('img-explain', () => this.send('images_saliency'));
    on('img-attack-run', () => this.runAttack());
    on('img-clear', () => this.clearPad());
    this.playBtn.addEventListener('click', () => this.togglePlay());
    this.networkSelect.addEventListener('change', () => { this.stop(); this.send('images_set', { network: this.networkSelect.value }); });
    this.speed.addEventListener('change', () => this.send('images_set', { speed: Number(this.speed.value) }));
    this.speed.addEventListener('input', () => this.showSpeed());
    this.eps.addEventListener('input', () => { this.epsOut.textContent = this.eps.value; });
    this.wirePad();
  }

  /** The view's entry beside the 2-D datasets' thumbnails. */
  addEntry(container, views) {
    if (!container || !views) return;
    for (const v of views) {
      if (container.querySelector(`[data-view="${v.key}"]`)) continue;
      const glyph = el('canvas', { width: 64, height: 64, 'aria-hidden': 'true' });   // a picture, as the other thumbnails
      const g = glyph.getContext('2d');
      g.fillStyle = '#151b29'; g.fillRect(0, 0, 64, 64);
      g.fillStyle = '#e4e8f1'; g.font = 'bold 20px sans-serif'; g.textAlign = 'center'; g.fillText('8×8', 32, 40);
      const btn = el('button', { type: 'button', class: 'thumb thumb-view', 'data-view': v.key, title: v.doc, 'aria-label': `Dataset ${v.label}` },
        glyph, el('span', { class: 'thumb-label' }, v.label));
      btn.addEventListener('click', () => this.send(v.open));
      container.append(btn);
    }
  }

  // ---- messages ---------------------------------------------------------------------------------
  onMessage(msg) {
    if (msg.type.startsWith('images_') && !this.root) this.build();
    switch (msg.type) {
      case 'images_state': this.onState(msg); return true;
      case 'images_trace': this.onTrace(msg); return true;
      case 'images_tile': this.showTile(msg); return true;
      case 'images_saliency': this.showMaps(msg); return true;
      case 'images_attack': this.playAttack(msg); return true;
      case 'state': if (this.active) this.show(false); return false;   // the plane is back
      default: return false;
    }
  }

  onState(msg) {
    if (msg.schema) this.adoptSchema(msg.schema);
    const changedNet = this.state && this.state.config.network !== msg.config.network;
    const changedWeights = !this.state || msg.step < this.state.step || changedNet;
    this.state = msg;
    this.show(true);
    this.networkSelect.value = msg.config.network;
    this.speed.value = msg.config.speed;
    this.showSpeed();
    this.playBtn.textContent = msg.playing ? 'Pause' : 'Train';
    this.playBtn.classList.toggle('playing', msg.playing);
    this.statusText.textContent = msg.status;
    if (changedWeights) { this.trace = null; this.clearTrace(); }
    for (const t of this.gallery.children) t.setAttribute('aria-pressed', String(Number(t.dataset.index) === msg.selected));
  }

  adoptSchema(schema) {
    this.schema = schema;
    this.networkSelect.replaceChildren(...schema.networks.map((n) => el('option', { value: n.key }, n.label)));
    const a = schema.attack;
    Object.assign(this.eps, { min: a.eps.min, max: a.eps.max, value: a.eps.default });
    this.epsOut.textContent = this.eps.value;
    Object.assign(this.steps, { min: a.steps.min, max: a.steps.max, value: a.steps.default });
    this.target.replaceChildren(el('option', { value: '' }, 'any other class (untargeted)'),
      ...Array.from({ length: 10 }, (_, k) => el('option', { value: String(k) }, `make it a ${k}`)));
    this.aggregation.textContent = schema.aggregation;
    this.drawNote.textContent = `Sent to the server and reduced there as the data was made: ${schema.drawing}`;
    this.gallery.replaceChildren(...schema.gallery.map((g) => {
      const c = pixelCanvas('img-thumb-px', `digit ${g.label}`);
      paint(c, g.image, ink);
      const btn = el('button', { type: 'button', class: 'img-thumb', 'data-index': g.index, 'aria-label': `Test digit ${g.index}, a ${g.label}`, 'aria-pressed': 'false' }, c);
      btn.addEventListener('click', () => this.send('images_select', { index: g.index }));
      return btn;
    }));
  }

  show(on) {
    if (!this.root) return;
    this.active = on;
    this.root.hidden = !on;
    document.body.classList.toggle('images-open', on);
    if (!on) this.stop();
  }

  showSpeed() {
    const p = this.schema && this.schema.paces.find((x) => x.level === Number(this.speed.value));
    this.speedOut.textContent = p ? p.label : this.speed.value;
  }

  togglePlay() {
    if (!this.state) return;
    this.stop();
    this.send(this.state.playing ? 'images_pause' : 'images_play');
  }

  onFrame(h, arrays) {
    if (!this.root) this.build();
    const prev = this.header;
    this.header = h;
    if (h.history_reset) this.history = [];
    if (h.history) this.history.push(...h.history);
    this.counter.textContent = `epoch ${fmt(h.epoch, 3)} · step ${h.step}`;
    this.counter.dataset.step = h.step;
    this.statusText.textContent = h.status;
    this.metrics.innerHTML = '';
    this.metrics.append(`test accuracy ${fmt(100 * h.test_acc, 3)}% · train ${fmt(100 * h.train_acc, 3)}% · test loss ${fmt(h.test_loss)}`);
    this.metrics.dataset.testAcc = h.test_acc;
    this.drawCurves();
    this.drawConfusion(h.confusion);
    const image = toRows(arrays.image.data, 8);
    paint(this.input, image, ink);
    const who = h.source === 'drawing' ? 'your drawing (no label: the loss is taken against the network\'s guess)' : `test digit ${h.selected}, labelled ${h.label}`;
    this.caption.textContent = `${who} · the network says ${h.predicted} (${fmt(100 * h.probs[h.predicted], 3)}%)`;
    this.caption.dataset.predicted = h.predicted;
    this.drawTiles(h, arrays);
    this.drawOutputs(this.outputs, h.probs, h.label);
    const sampleChanged = !prev || prev.selected !== h.selected || prev.source !== h.source || prev.network !== h.network;
    if (sampleChanged || h.step !== (prev && prev.step)) {
      if (sampleChanged) { this.inputGradBox.hidden = true; this.clearTrace(); this.trace = null; this.maps.replaceChildren(); }
      else if (!h.playing && this.trace && this.trace.step !== h.step) { this.trace = null; this.clearTrace(); }
    }
  }

  // ---- drawing the network ----------------------------------------------------------------------
  drawTiles(h, arrays) {
    const cnn = !!arrays.maps;
    const [n, side] = arrays.tiles.shape; const tiles = arrays.tiles.data;
    const net = this.schema && this.schema.networks.find((x) => x.key === h.network);
    this.tileWords.textContent = net ? `Each tile is ${net.tile}. Weights: ${palette().posName || 'light'} +, ${palette().negName || 'dark'} −, each tile scaled to its own largest |w|.` : '';
    if (this.hidden.children.length !== n || this.hidden.dataset.net !== h.network) {
      this.hidden.dataset.net = h.network;
      this.hidden.classList.toggle('cnn', cnn);
      this.hidden.replaceChildren(...Array.from({ length: n }, (_, u) => {
        const w = pixelCanvas('img-tile-w', `unit ${u}: its weights`);
        const extra = cnn ? pixelCanvas('img-tile-map', `filter ${u}: its feature map`) : el('span', { class: 'img-tile-val' });
        const g = pixelCanvas('img-tile-g', `unit ${u}: ∂L/∂w`);
        g.hidden = true;
        // no aria-label: the name is the content (each canvas's label, the value, the ▲/▼ mark)
        const btn = el('button', { type: 'button', class: 'img-tile', 'data-layer': 1, 'data-unit': u,
          title: `${cnn ? 'Filter' : 'Hidden unit'} ${u}: show its numbers` }, w, extra, g, el('span', { class: 'img-tile-mark' }));
        btn.addEventListener('click', () => this.send('images_tile', { layer: 1, unit: u }));
        return btn;
      }));
    }
    [...this.hidden.children].forEach((btn, u) => {
      const rows = toRows(tiles.slice(u * side * side, (u + 1) * side * side), side);
      paint(btn.children[0], rows, weightColour(maxAbs(rows)));
      if (cnn) {
        const map = toRows(arrays.maps.data.slice(u * 64, (u + 1) * 64), 8);
        paint(btn.children[1], map, (v) => ink(v / (maxAbs(map) || 1)));
      } else if (h.hidden) {
        btn.children[1].textContent = fmt(h.hidden[u], 2);
      }
    });
  }

  drawOutputs(box, probs, label) {
    if (box.children.length !== 10) {
      box.replaceChildren(...Array.from({ length: 10 }, (_, k) => {
        const row = el('button', { type: 'button', class: 'img-out', 'data-unit': k, title: `Output ${k}: show its numbers` },
          el('span', { class: 'img-sr' }, 'output '), el('span', { class: 'img-out-k' }, String(k)), el('span', { class: 'img-bar' }, el('span', { class: 'img-bar-fill' })),
          el('span', { class: 'img-out-p' }), el('span', { class: 'img-tile-mark' }));
        if (box === this.outputs) row.addEventListener('click', () => this.send('images_tile', { layer: 2, unit: k }));
        else row.disabled = true;
        return row;
      }));
    }
    const top = probs.indexOf(Math.max(...probs));
    [...box.children].forEach((row, k) => {
      row.querySelector('.img-bar-fill').style.width = `${(100 * probs[k]).toFixed(1)}%`;
      row.querySelector('.img-out-p').textContent = `${fmt(100 * probs[k], 3)}%`;
      row.dataset.prob = probs[k];
      row.classList.toggle('top', k === top);
      row.classList.toggle('label', k === label);
    });
  }

  // ---- forward and backward -----------------------------------------------------------------------
  stop() {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  later(ms, fn) { this.timers.push(setTimeout(fn, reducedMotion() ? 0 : ms)); }

  forward() { this.pending = 'forward'; this.send('images_trace'); }
  backward() { this.pending = this.trace ? 'backward' : 'both'; this.send('images_trace'); }

  onTrace(tr) {
    this.trace = tr;
    const mode = this.pending || 'forward';
    this.pending = null;
    this.stop();
    if (mode === 'forward' || mode === 'both') this.animateForward(tr, mode === 'both' ? () => this.animateBackward(tr) : null);
    else this.animateBackward(tr);
  }

  setPhase(text) { this.phase.textContent = text; this.root.dataset.phase = text; }

  clearTrace() {
    for (const b of this.root.querySelectorAll('.img-tile, .img-out')) {
      b.classList.remove('lit', 'back'); b.style.boxShadow = ''; b.style.outline = '';
      const g = b.querySelector('.img-tile-g'); if (g) g.hidden = true;
      const m = b.querySelector('.img-tile-mark'); if (m) m.textContent = '';
      delete b.dataset.ring; delete b.dataset.halo; delete b.dataset.sign;
    }
    this.inputGradBox.hidden = true;
    this.setPhase('idle');
  }

  animateForward(tr, then) {
    this.clearTrace();
    this.setPhase('forward: input');
    this.input.classList.add('lit');
    this.later(STAGE_MS, () => {
      this.setPhase('forward: hidden');
      this.hidden.querySelectorAll('.img-tile').forEach((b) => b.classList.add('lit'));
    });
    this.later(2 * STAGE_MS, () => {
      this.setPhase(`forward: outputs · loss ${fmt(tr.loss)}`);
      this.outputs.querySelectorAll('.img-out').forEach((b) => b.classList.add('lit'));
      this.input.classList.remove('lit');
      if (then) this.later(STAGE_MS, then); else this.setPhase(`forward done · loss ${fmt(tr.loss)}`);
    });
  }

  blame(btn, unit, scale) {
    const p = palette();
    const ring = unit.ring / (scale.ring || 1); const halo = unit.halo / (scale.halo || 1);
    btn.classList.add('back');
    btn.dataset.ring = unit.ring; btn.dataset.halo = unit.halo; btn.dataset.sign = unit.sign;
    const colour = unit.sign < 0 ? p.increase : (unit.sign > 0 ? p.decrease : '#8a93a6');
    btn.style.outline = `${(1 + 4 * Math.sqrt(ring)).toFixed(1)}px solid ${colour}`;
    btn.style.boxShadow = `0 0 ${(4 + 18 * Math.sqrt(halo)).toFixed(0)}px ${(6 * Math.sqrt(halo)).toFixed(0)}px rgba(255, 236, 170, ${(0.15 + 0.6 * Math.sqrt(halo)).toFixed(2)})`;
    btn.querySelector('.img-tile-mark').textContent = unit.sign < 0 ? '▲' : (unit.sign > 0 ? '▼' : '');
  }

  animateBackward(tr) {
    const [, hidden, output] = tr.stages;
    this.setPhase('backward: outputs');
    [...this.outputs.children].forEach((b, k) => this.blame(b, output.units[k], tr.scale));
    this.later(STAGE_MS, () => {
      this.setPhase('backward: hidden');
      [...this.hidden.children].forEach((b, u) => {
        const unit = hidden.units[u];
        this.blame(b, unit, tr.scale);
        const g = b.querySelector('.img-tile-g');
        paint(g, unit.grad_w, gradColour(maxAbs(unit.grad_w)));
        g.hidden = false;
      });
    });
    this.later(2 * STAGE_MS, () => {
      this.setPhase('backward: ∂L/∂x on the input');
      paint(this.inputGrad, tr.input_grad, gradColour(maxAbs(tr.input_grad)));
      this.inputGradBox.hidden = false;
      this.later(STAGE_MS, () => this.setPhase(`backward done · loss ${fmt(tr.loss)} against class ${tr.aim}`));
    });
  }

  showTile(msg) {
    const t = msg.tile; const rows = [];
    const line = (name, v) => rows.push(el('tr', {}, el('th', { scope: 'row' }, name), el('td', { 'data-raw': String(v) }, fmt(v))));
    const what = msg.layer === 1 ? `${this.hidden.classList.contains('cnn') ? 'filter' : 'hidden unit'} ${msg.unit}` : `output ${msg.unit}`;
    line('bias b', t.bias); line('∂L/∂b', t.grad_b);
    if (t.value !== undefined) { line('activation a', t.value); line('δ = ∂L/∂z', t.delta); }
    if (t.prob !== undefined) { line('logit z', t.logit); line('softmax p', t.prob); line('δ = p − y', t.delta); }
    line('‖∂L/∂w‖ (ring)', t.ring); line('Σ|δ| (halo)', t.halo);
    const grid = (title, m) => {
      const flat = m.flat ? m.flat() : m; const w = Array.isArray(m[0]) ? m[0].length : Math.min(flat.length, 8);
      return el('table', { class: 'img-numbers', 'aria-label': title }, el('caption', {}, title),
        ...toRows(flat, w).map((r) => el('tr', {}, ...r.map((v) => el('td', { 'data-raw': String(v), class: v < 0 ? 'neg' : '' }, fmt(v, 2))))));
    };
    this.detail.replaceChildren(el('h3', {}, `${what} at step ${msg.step}`), el('table', { class: 'img-kv' }, ...rows),
      grid('weights w', t.weights), grid('∂L/∂w', t.grad_w));
    this.detail.dataset.layer = msg.layer; this.detail.dataset.unit = msg.unit;
  }

  // ---- saliency -----------------------------------------------------------------------------------
  showMaps(msg) {
    this.maps.replaceChildren(...msg.maps.map((m) => {
      const c = pixelCanvas('img-mid', m.label);
      paint(c, m.map, gradColour(maxAbs(m.map)));
      return el('figure', { class: 'img-map', 'data-method': m.key, 'data-max': String(maxAbs(m.map)) }, c,
        el('figcaption', {}, el('strong', {}, m.label), el('p', {}, `What it is: ${m.is}.`), el('p', { class: 'img-not' }, `What it is not: ${m.not}.`)));
    }));
    this.maps.dataset.aim = msg.aim;
  }

  // ---- adversarial --------------------------------------------------------------------------------
  runAttack() {
    const payload = { eps: Number(this.eps.value), steps: Math.max(1, Math.min(50, Math.round(Number(this.steps.value) || 1))) };
    if (this.target.value !== '') payload.target = Number(this.target.value);
    this.send('images_attack', payload);
  }

  playAttack(msg) {
    this.attack = msg;
    this.advBudget.textContent = `${msg.method}. ${msg.budget}.`;
    this.stop();
    const last = msg.flipped_at === null ? msg.frames.length - 1 : msg.flipped_at;
    for (let i = 0; i <= last; i++) this.later(i * 260, () => this.showAttackStep(msg, i, i === last));
  }

  showAttackStep(msg, i, final) {
    const f = msg.frames[i];
    paint(this.advPert, f.perturbation, gradColour(Math.max(msg.eps / AMPLIFY, 1e-9) * AMPLIFY));
    paint(this.advImage, f.image, ink);
    this.drawOutputs(this.advProbs, f.probs, msg.start);
    const goal = msg.target === null ? `was ${msg.start}` : `target ${msg.target}`;
    let text = `step ${i} of ${msg.frames.length - 1}: the network says ${f.predicted} (${fmt(100 * f.probs[f.predicted], 3)}%), ${goal}; largest pixel change ${fmt(f.max_change, 3)}`;
    if (final) text += msg.flipped_at === null ? ' · the class did not flip: raise ε or the steps' : ` · flipped at step ${msg.flipped_at}`;
    this.advStep.textContent = text;
    this.advStep.dataset.step = i;
    this.advStep.dataset.predicted = f.predicted;
    if (final) this.advStep.dataset.done = msg.flipped_at === null ? 'no-flip' : 'flipped';
    else delete this.advStep.dataset.done;
  }

  // ---- the drawing pad ----------------------------------------------------------------------------
  wirePad() {
    const ctx = this.pad.getContext('2d');
    this.clearPad(false);
    let down = false; let last = null; let timer = null;
    const at = (e) => {
      const r = this.pad.getBoundingClientRect();
      return [(e.clientX - r.left) * (DRAW_SIDE / r.width), (e.clientY - r.top) * (DRAW_SIDE / r.height)];
    };
    const stroke = (p) => {
      ctx.strokeStyle = '#fff'; ctx.lineWidth = DRAW_SIDE / 11; ctx.lineCap = 'round'; ctx.lineJoin = 'round';
      ctx.beginPath(); ctx.moveTo(...(last || p)); ctx.lineTo(...p); ctx.stroke();
      last = p;
      this.inked = true;
    };
    this.pad.addEventListener('pointerdown', (e) => { down = true; last = null; this.pad.setPointerCapture(e.pointerId); stroke(at(e)); e.preventDefault(); });
    this.pad.addEventListener('pointermove', (e) => {
      if (!down) return;
      stroke(at(e));
      if (!timer) timer = setTimeout(() => { timer = null; this.sendDrawing(); }, 200);   // live, a few times a second
    });
    const up = () => { if (!down) return; down = false; last = null; clearTimeout(timer); timer = null; this.sendDrawing(); };
    this.pad.addEventListener('pointerup', up);
    this.pad.addEventListener('pointercancel', up);
  }

  clearPad(announce = true) {
    const ctx = this.pad.getContext('2d');
    ctx.fillStyle = '#000'; ctx.fillRect(0, 0, DRAW_SIDE, DRAW_SIDE);
    this.inked = false;
    if (announce) this.drawNote.dataset.cleared = '1';
  }

  sendDrawing() {
    if (!this.inked) return;
    const data = this.pad.getContext('2d').getImageData(0, 0, DRAW_SIDE, DRAW_SIDE).data;
    let bin = '';
    for (let i = 0; i < data.length; i += 4) bin += String.fromCharCode(data[i]);   // the red channel is the ink
    this.send('images_draw', { width: DRAW_SIDE, height: DRAW_SIDE, pixels: btoa(bin) });
  }

  // ---- curves and the confusion matrix ------------------------------------------------------------
  drawCurves() {
    const rows = this.history;
    const draw = (canvas, cols, fixed) => {
      const ctx = canvas.getContext('2d'); const W = canvas.width; const H = canvas.height;
      ctx.fillStyle = '#0f1420'; ctx.fillRect(0, 0, W, H);
      if (rows.length < 1) return;
      const xs = rows.map((r) => r[0]); const x1 = Math.max(...xs, 1e-9);
      const vals = rows.flatMap((r) => cols.map((c) => r[c])).filter((v) => v !== null);
      const [lo, hi] = fixed || [0, Math.max(...vals, 1e-9)];
      ctx.strokeStyle = '#243049'; ctx.strokeRect(0.5, 0.5, W - 1, H - 1);
      ctx.fillStyle = '#8a93a6'; ctx.font = '10px sans-serif';
      ctx.fillText(fmt(hi, 3), 4, 11); ctx.fillText(fmt(lo, 3), 4, H - 4); ctx.fillText(`epoch ${fmt(x1, 3)}`, W - 64, H - 4);
      cols.forEach((c, j) => {
        ctx.strokeStyle = j ? '#c4c8d0' : '#7fb0ff'; ctx.setLineDash(j ? [4, 3] : []); ctx.lineWidth = 1.5;
        ctx.beginPath();
        rows.forEach((r, i) => {
          const x = (r[0] / x1) * (W - 8) + 4; const y = H - 4 - ((r[c] - lo) / (hi - lo || 1)) * (H - 16);
          if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        });
        ctx.stroke();
      });
      ctx.setLineDash([]);
    };
    draw(this.lossCanvas, [1, 2], null);
    draw(this.accCanvas, [3, 4], [0, 1]);
    this.lossCanvas.dataset.points = rows.length;
  }

  drawConfusion(m) {
    if (!m) return;
    if (this.confusion.rows.length !== 11) {
      const head = el('tr', {}, el('th', { scope: 'col' }, ''), ...Array.from({ length: 10 }, (_, k) => el('th', { scope: 'col' }, String(k))));
      this.confusion.replaceChildren(head, ...Array.from({ length: 10 }, (_, r) =>
        el('tr', {}, el('th', { scope: 'row' }, String(r)), ...Array.from({ length: 10 }, () => el('td')))));
    }
    const peak = Math.max(...m.flat(), 1);
    for (let r = 0; r < 10; r++) {
      for (let c = 0; c < 10; c++) {
        const td = this.confusion.rows[r + 1].cells[c + 1]; const v = m[r][c];
        if (td.textContent !== String(v)) {
          td.textContent = v ? String(v) : '';
          td.dataset.count = v;
          const a = Math.sqrt(v / peak);
          td.style.background = v ? (r === c ? `rgba(47, 86, 180, ${(0.35 + 0.65 * a).toFixed(2)})` : `rgba(150, 50, 150, ${(0.45 + 0.55 * a).toFixed(2)})`) : '';
        }
      }
    }
  }

  // ---- keys ---------------------------------------------------------------------------------------
  onKey(e) {
    if (!this.active || e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = (e.target && e.target.tagName) || '';
    if (['INPUT', 'SELECT', 'TEXTAREA'].includes(tag)) return;
    const keys = { ' ': () => this.togglePlay(), f: () => this.forward(), b: () => this.backward(), n: () => this.send('images_next') };
    const fn = keys[e.key.toLowerCase()];
    if (tag === 'BUTTON' && e.key === ' ') return;      // space presses the focused button
    e.stopImmediatePropagation();                        // the plane's keys do not act on a hidden view
    if (fn) { e.preventDefault(); fn(); }
  }
}
