// Top bar, DATA column and FEATURES toggles, built from the server's schema (its settings table and
// registries). Every change becomes a partial config sent to the server; the server applies the rules
// (a dataset of another kind switches the problem and the loss) and its `state` reply is the truth,
// written back into the controls.

import { el, fmt } from './format.js';
import { drawThumb } from './thumbs.js';

const $ = (id) => document.getElementById(id);

function fillSelect(select, values, label = String) {
  select.replaceChildren(...values.map((v) => el('option', { value: String(v) }, label(v))));
}

function ensureOption(select, value, label = String) {
  const s = String(value);
  if (![...select.options].some((o) => o.value === s)) select.append(el('option', { value: s }, label(value)));
  select.value = s;
}

const percent = (v) => `${Math.round(v * 100)}%`;
const SLIDER_TEXT = { noise: (v) => String(Math.round(v * 100)), train_ratio: percent, batch_size: String };

export class Controls {
  constructor({ onChange, onAction }) {
    this.onChange = onChange;
    this.onAction = onAction;
    this.config = {};
    this.schema = null;
    this.kind = 'binary';
    this.busy = false;
    this.thumbButtons = new Map();
    this.wire();
  }

  setting(name) { return this.schema ? this.schema.settings.find((s) => s.name === name) : undefined; }

  speedLabel(level) {
    const p = this.schema && this.schema.paces.find((x) => x.level === Number(level));
    return p ? p.label : String(level);
  }

  wire() {
    const send = (partial) => { if (!this.busy) this.onChange(partial); };
    for (const node of document.querySelectorAll('select[data-setting]')) {
      node.addEventListener('change', () => {
        const s = this.setting(node.dataset.setting);
        send({ [node.dataset.setting]: s && s.type !== 'str' ? Number(node.value) : node.value });
      });
    }
    for (const node of document.querySelectorAll('input[type=range][data-setting]')) {
      const name = node.dataset.setting;
      const out = $(`${node.id}-out`);
      const text = (v) => (name === 'speed' ? this.speedLabel(v) : (SLIDER_TEXT[name] || String)(v));
      node.addEventListener('input', () => { out.textContent = text(Number(node.value)); });
      node.addEventListener('change', () => send({ [name]: Number(node.value) }));
    }
    $('regenerate').addEventListener('click', () => this.onAction('regenerate'));
    $('solve').addEventListener('click', () => {
      const d = this.dataset(this.config.dataset);
      if (d && !this.busy) this.onChange({ ...d.solver });
    });
  }

  dataset(name) { return this.schema ? this.schema.datasets.find((d) => d.name === name) : undefined; }

  /** Build every menu, slider range, label, dataset thumbnail and feature toggle from the schema. */
  setSchema(schema) {
    if (!schema || !Array.isArray(schema.settings)) return;
    this.schema = schema;
    for (const span of document.querySelectorAll('[data-label]')) {
      const s = this.setting(span.dataset.label);
      if (s) span.textContent = s.label;
    }
    for (const node of document.querySelectorAll('[data-setting]')) {
      const s = this.setting(node.dataset.setting);
      if (!s) continue;
      if (node.tagName === 'SELECT' && s.name !== 'loss' && s.name !== 'dataset') {
        if (s.choices) fillSelect(node, s.choices, (v) => s.labels[v] || v);
        else if (s.stops) fillSelect(node, s.stops, (v) => fmt(v));
      } else if (node.type === 'range' && s.name !== 'batch_size') {
        node.min = String(s.min); node.max = String(s.max);
      }
    }
    this.buildDatasets(schema.datasets, schema.kinds);
    this.buildFeatures(schema.features);
  }

  buildDatasets(list, kinds) {
    const select = $('dataset');
    const groups = new Map(kinds.map((k) => [k.name, el('optgroup', { label: k.label })]));
    for (const d of list) groups.get(d.kind).append(el('option', { value: d.name }, d.label));
    select.replaceChildren(...[...groups.values()].filter((g) => g.children.length));
    const thumbs = $('dataset-thumbs');
    thumbs.replaceChildren();
    this.thumbButtons = new Map();
    for (const d of list) {
      const canvas = el('canvas', { width: 128, height: 128, 'aria-hidden': 'true' });   // 2x for sharp HiDPI
      const b = el('button', { type: 'button', class: `thumb kind-${d.kind}`, 'data-dataset': d.name, title: `${d.label}: ${d.description}`, 'aria-label': `Dataset ${d.label}` },
        canvas, el('span', { class: 'thumb-label' }, d.label));
      b.addEventListener('click', () => { if (!this.busy) this.onChange({ dataset: d.name }); });
      drawThumb(canvas, d.preview, d.kind);
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
        this.onChange({ features: [...on] });   // the server keeps the registry's order
      });
      box.append(b);
    }
  }

  /** Write a server `state` message into the controls (without echoing changes back). */
  setState(state) {
    if (!this.schema) return;
    this.busy = true;
    try {
      const c = state.config || {};
      this.config = c;
      this.kind = state.kind || 'binary';
      for (const node of document.querySelectorAll('select[data-setting]')) {
        const s = this.setting(node.dataset.setting);
        const v = c[node.dataset.setting];
        if (v === undefined || !s || s.name === 'loss') continue;
        ensureOption(node, v, (x) => (s.labels && s.labels[x]) || fmt(x));
      }
      for (const [name, b] of this.thumbButtons) {
        b.classList.toggle('selected', name === c.dataset);
        b.setAttribute('aria-pressed', name === c.dataset ? 'true' : 'false');
      }
      $('classes-field').hidden = this.kind !== 'multiclass';
      $('reg-rate').disabled = c.regularization === 'none';
      const kind = this.schema.kinds.find((k) => k.name === this.kind);
      const losses = this.schema.losses;
      const lossLabel = (n) => (losses.find((l) => l.name === n) || { label: n }).label;
      fillSelect($('loss'), kind ? kind.losses : [c.loss], lossLabel);
      $('loss').value = c.loss;
      $('loss').disabled = !kind || kind.losses.length <= 1;
      for (const node of document.querySelectorAll('input[type=range][data-setting]')) {
        const name = node.dataset.setting;
        const v = c[name];
        if (v === undefined) continue;
        if (Number(node.max) < v) node.max = String(v);
        node.value = String(v);
        $(`${node.id}-out`).textContent = name === 'speed' ? this.speedLabel(v) : (SLIDER_TEXT[name] || String)(v);
      }
      if (c.seed !== undefined) $('seed').textContent = String(c.seed);
      const on = new Set(c.features || []);
      for (const b of document.querySelectorAll('button.feature')) b.setAttribute('aria-pressed', on.has(b.dataset.feature) ? 'true' : 'false');
      const hidden = c.hidden || [];
      const limits = state.limits || {};
      $('layer-count').textContent = `${hidden.length} hidden layer${hidden.length === 1 ? '' : 's'}`;
      $('add-layer').disabled = hidden.length >= (limits.max_layers ?? 8);
      $('remove-layer').disabled = hidden.length === 0;
      const d = this.dataset(c.dataset);
      const solved = d && Object.entries(d.solver).every(([k, v]) => JSON.stringify(c[k]) === JSON.stringify(v));
      $('solve').disabled = !!solved;
      $('solve').title = d ? `Switch to settings that solve ${d.label} within a minute: ${Object.entries(d.solver).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(',') : v}`).join(' · ')}` : '';
    } finally {
      this.busy = false;
    }
  }
}
