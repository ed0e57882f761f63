// Top bar, DATA column and FEATURES toggles. Every change becomes a partial config sent to the server;
// the server's `state` reply is the truth and is written back into the controls.

import { el } from './format.js';
import { drawThumb } from './thumbs.js';

const LR = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REG_RATE = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];
const LOSSES = {
  binary: [['bce', 'Cross-entropy'], ['hinge', 'Hinge'], ['mse', 'Squared error']],
  multiclass: [['cross_entropy', 'Cross-entropy']],
  regression: [['mse', 'Squared error']],
};
const KIND_LABEL = { binary: 'Classification · 2 classes', multiclass: 'Classification · 3–5 classes', regression: 'Regression' };
const FALLBACK_DATASETS = [
  { name: 'circle', kind: 'binary', label: 'Circle' }, { name: 'xor', kind: 'binary', label: 'Exclusive or' },
  { name: 'gauss', kind: 'binary', label: 'Gaussian' }, { name: 'spiral', kind: 'binary', label: 'Spiral' },
  { name: 'moons', kind: 'binary', label: 'Moons' }, { name: 'blobs', kind: 'multiclass', label: 'Blobs' },
  { name: 'spiral_multi', kind: 'multiclass', label: 'Spiral arms' }, { name: 'plane', kind: 'regression', label: 'Plane' },
  { name: 'multi_gauss', kind: 'regression', label: 'Multi Gaussian' },
];

const $ = (id) => document.getElementById(id);

function fillSelect(select, values, format = String) {
  select.replaceChildren(...values.map((v) => el('option', { value: String(v) }, format(v))));
}

function ensureOption(select, value, format = String) {
  const s = String(value);
  if (![...select.options].some((o) => o.value === s)) select.append(el('option', { value: s }, format(value)));
  select.value = s;
}

export class Controls {
  constructor({ onChange, onAction }) {
    this.onChange = onChange;
    this.onAction = onAction;
    this.config = {};
    this.datasets = FALLBACK_DATASETS;
    this.features = [];
    this.kind = 'binary';
    this.busy = false;
    fillSelect($('lr'), LR);
    fillSelect($('reg-rate'), REG_RATE);
    this.buildDatasets(FALLBACK_DATASETS);
    this.wire();
  }

  wire() {
    const send = (partial) => { if (!this.busy) this.onChange(partial); };
    $('lr').addEventListener('change', (e) => send({ lr: Number(e.target.value) }));
    $('activation').addEventListener('change', (e) => send({ activation: e.target.value }));
    $('regularization').addEventListener('change', (e) => send({ regularization: e.target.value }));
    $('reg-rate').addEventListener('change', (e) => send({ reg_rate: Number(e.target.value) }));
    $('optimizer').addEventListener('change', (e) => send({ optimizer: e.target.value }));
    $('loss').addEventListener('change', (e) => send({ loss: e.target.value }));
    $('problem').addEventListener('change', (e) => {
      // The problem type must fit the dataset: switch to the first dataset of the other kind, as TF does.
      const want = e.target.value;
      const fits = (d) => (want === 'regression') === (d.kind === 'regression');
      const current = this.datasets.find((d) => d.name === this.config.dataset);
      if (current && fits(current)) send({ problem: want });
      else {
        const next = this.datasets.find(fits);
        send(next ? this.datasetChange(next.name) : { problem: want });
      }
    });
    $('dataset').addEventListener('change', (e) => send(this.datasetChange(e.target.value)));
    $('classes').addEventListener('change', (e) => send({ classes: Number(e.target.value) }));
    $('n-points').addEventListener('change', (e) => send({ n_points: Number(e.target.value) }));
    const slider = (id, key, show) => {
      const input = $(id);
      const out = $(`${id}-out`);
      input.addEventListener('input', () => { out.textContent = show(Number(input.value)); });
      input.addEventListener('change', () => send({ [key]: Number(input.value) }));
    };
    slider('noise', 'noise', (v) => String(Math.round(v * 100)));
    slider('train-ratio', 'train_ratio', (v) => `${Math.round(v * 100)}%`);
    slider('batch-size', 'batch_size', (v) => String(v));
    $('regenerate').addEventListener('click', () => this.onAction('regenerate'));
  }

  datasetChange(name) {
    const d = this.datasets.find((x) => x.name === name);
    const partial = { dataset: name };
    if (d) {
      partial.problem = d.kind === 'regression' ? 'regression' : 'classification';
      // a dataset of another kind starts from that kind's usual loss (regression's MSE must not
      // stick to a classification set picked afterwards)
      if (d.kind !== this.kind && LOSSES[d.kind]) partial.loss = LOSSES[d.kind][0][0];
    }
    return partial;
  }

  buildDatasets(list) {
    this.datasets = list;
    const select = $('dataset');
    const groups = new Map();
    for (const d of list) {
      if (!groups.has(d.kind)) groups.set(d.kind, el('optgroup', { label: KIND_LABEL[d.kind] || d.kind }));
      groups.get(d.kind).append(el('option', { value: d.name }, d.label || d.name));
    }
    select.replaceChildren(...groups.values());
    const thumbs = $('dataset-thumbs');
    thumbs.replaceChildren();
    this.thumbButtons = new Map();
    for (const d of list) {
      const canvas = el('canvas', { width: 128, height: 128, 'aria-hidden': 'true' });   // 2x for sharp HiDPI
      const title = `${d.label || d.name}: ${d.description || KIND_LABEL[d.kind] || d.kind}`;
      const b = el('button', { type: 'button', class: `thumb kind-${d.kind}`, 'data-dataset': d.name, title, 'aria-label': `Dataset ${d.label || d.name}` },
        canvas, el('span', { class: 'thumb-label' }, d.label || d.name));
      b.addEventListener('click', () => { if (!this.busy) this.onChange(this.datasetChange(d.name)); });
      drawThumb(canvas, d.name, d.kind);
      thumbs.append(b);
      this.thumbButtons.set(d.name, b);
    }
  }

  buildFeatures(list) {
    this.features = list;
    const box = $('features');
    box.replaceChildren();
    for (const f of list) {
      const b = el('button', { type: 'button', class: 'feature', 'data-feature': f.name, 'aria-pressed': 'false', title: `Feed ${f.label} into the network` },
        el('span', { class: `feat-icon feat-${f.name.replace(/[^a-z0-9]/gi, '_')}`, 'aria-hidden': 'true' }), el('span', { class: 'feat-label' }, f.label));
      b.addEventListener('click', () => {
        if (this.busy) return;
        const on = new Set(this.config.features || []);
        if (on.has(f.name)) {
          if (on.size === 1) { this.onAction('feature-needed'); return; }
          on.delete(f.name);
        } else on.add(f.name);
        // keep the registry order so the network's input column is stable
        this.onChange({ features: this.features.map((x) => x.name).filter((n) => on.has(n)) });
      });
      box.append(b);
    }
  }

  /** Write a server `state` message into the controls (without echoing changes back). */
  setState(state) {
    this.busy = true;
    try {
      const c = state.config || {};
      this.config = c;
      if (state.datasets && JSON.stringify(state.datasets) !== JSON.stringify(this.datasets)) this.buildDatasets(state.datasets);
      if (state.features && JSON.stringify(state.features) !== JSON.stringify(this.features)) this.buildFeatures(state.features);
      const d = this.datasets.find((x) => x.name === c.dataset);
      this.kind = d ? d.kind : 'binary';
      if (c.dataset !== undefined) $('dataset').value = c.dataset;
      for (const [name, b] of this.thumbButtons) {
        b.classList.toggle('selected', name === c.dataset);
        b.setAttribute('aria-pressed', name === c.dataset ? 'true' : 'false');
      }
      $('classes-field').hidden = this.kind !== 'multiclass';
      if (c.classes !== undefined) $('classes').value = String(c.classes);
      if (c.lr !== undefined) ensureOption($('lr'), c.lr);
      if (c.activation !== undefined) $('activation').value = c.activation;
      if (c.regularization !== undefined) $('regularization').value = c.regularization;
      if (c.reg_rate !== undefined) ensureOption($('reg-rate'), c.reg_rate);
      $('reg-rate').disabled = c.regularization === 'none';
      if (c.optimizer !== undefined) $('optimizer').value = c.optimizer;
      const problem = c.problem || state.problem;
      if (problem) $('problem').value = problem;
      fillSelect($('loss'), (LOSSES[this.kind] || LOSSES.binary).map((x) => x[0]),
        (v) => (LOSSES[this.kind] || LOSSES.binary).find((x) => x[0] === v)[1]);
      if (c.loss) ensureOption($('loss'), c.loss);
      $('loss').disabled = (LOSSES[this.kind] || []).length <= 1;
      const setSlider = (id, v, show) => { if (v === undefined) return; $(id).value = String(v); $(`${id}-out`).textContent = show(v); };
      setSlider('noise', c.noise, (v) => String(Math.round(v * 100)));
      setSlider('train-ratio', c.train_ratio, (v) => `${Math.round(v * 100)}%`);
      if (c.batch_size !== undefined && c.batch_size > Number($('batch-size').max)) $('batch-size').max = String(c.batch_size);
      setSlider('batch-size', c.batch_size, (v) => String(v));
      if (c.n_points !== undefined) ensureOption($('n-points'), c.n_points);
      if (c.seed !== undefined) $('seed').textContent = String(c.seed);
      const on = new Set(c.features || []);
      for (const b of document.querySelectorAll('button.feature')) {
        const pressed = on.has(b.dataset.feature);
        b.setAttribute('aria-pressed', pressed ? 'true' : 'false');
      }
      const hidden = c.hidden || [];
      const limits = state.limits || {};
      $('layer-count').textContent = `${hidden.length} hidden layer${hidden.length === 1 ? '' : 's'}`;
      $('add-layer').disabled = hidden.length >= (limits.max_layers ?? 8);
      $('remove-layer').disabled = hidden.length === 0;
    } finally {
      this.busy = false;
    }
  }
}
