// The chain-rule inspector: dL/dw = delta_i * a_j with the real numbers, how delta_i came from the
// layer to its right, Check it (finite differences), the weight editor, Apply-this-update results and
// the cost meter. Every number is the server's; nothing is recomputed here.

import { el, fmt, fmtDuration, setNum } from './format.js';
import { gradientColor, palette } from './colors.js';

function num(name, value, digits = 4) {
  const span = el('span', { class: 'num', 'data-value': name });
  setNum(span, value, digits);
  return span;
}


export class Inspector {
  constructor(root, handlers) {
    this.root = root;
    this.handlers = handlers;
    this.mode = null;
    this.target = null;
    this.lossName = null;
    this.fprime = {};
    this.lossDelta = {};
    this.signedTargets = new Set();
    this.root.innerHTML = '';
    this.head = el('div', { class: 'insp-head' });
    this.main = el('div', { class: 'insp-main' });
    this.checkBox = el('div', { class: 'insp-check' });
    this.updateBox = el('div', { class: 'insp-update' });
    this.cost = el('div', { id: 'cost-meter', class: 'cost-meter' }, 'Cost meter: press Forward to time one step.');
    this.root.append(this.head, this.main, this.checkBox, this.updateBox, this.cost);
    this.showEmpty();
  }

  setLossName(name) { if (name) this.lossName = name; }

  /** The activations' f′, the losses' δ formulas and how each reads its targets come from the schema's registries. */
  setSchema(schema) {
    this.fprime = Object.fromEntries(schema.activations.map((a) => [a.name, a.fprime]));
    this.lossDelta = Object.fromEntries(schema.losses.map((l) => [l.name, l.delta]));
    this.signedTargets = new Set(schema.losses.filter((l) => l.signed_targets).map((l) => l.name));
  }

  heading(title, sub) {
    this.head.replaceChildren(el('h3', {}, title), sub ? el('span', { class: 'muted' }, sub) : '');
  }

  checkButton(enabled) {
    // Predict, then reveal: Check it prints backprop's ∂L/∂w, so it waits for Backward too
    const hidden = enabled && this.hiding();
    const title = hidden ? 'Press Backward first: Check it would show the sign you are predicting'
      : enabled ? 'Nudge this weight by ±ε and compare the slope with backprop'
      : 'Click a connection (a weight) first: Check it compares its backprop gradient with finite differences';
    const b = el('button', { type: 'button', class: 'step-btn', id: 'check-it', title }, 'Check it');
    b.disabled = !enabled || hidden;
    b.addEventListener('click', () => this.handlers.onCheck());
    return b;
  }

  showEmpty() {
    this.mode = 'empty'; this.target = null;
    this.heading('Inspector', 'chain rule, with the real numbers');
    this.main.replaceChildren(
      el('p', { class: 'hint' },
        'Press Forward', el('span', { class: 'key-hint' }, ' (', el('kbd', {}, 'F'), ')'), ', then Backward',
        el('span', { class: 'key-hint' }, ' (', el('kbd', {}, 'B'), ')'), '. ',
        'Then click any connection to see ∂L/∂w = δ · a with this sample\'s numbers, and how δ came from the layer to its right. ',
        'Click a neuron for z, a, ∂L/∂a and δ. Click a point on the plane to pick a sample.'),
      el('div', { class: 'insp-actions' }, this.checkButton(false)),
    );
    this.checkBox.replaceChildren();
  }

  editor(kind, current, onSet) {
    const input = el('input', { type: 'text', class: 'num-input', id: 'weight-input', inputMode: 'decimal',
      'aria-label': kind === 'bias' ? 'New bias value' : 'New weight value', spellcheck: false });
    input.value = current === null || current === undefined ? '' : String(Number(current.toPrecision(6)));
    const err = el('span', { class: 'field-error', role: 'alert' });
    const btn = el('button', { type: 'button', class: 'ghost-btn small', 'aria-label': kind === 'bias' ? 'Set bias' : 'Set weight' }, 'Set');
    const submit = () => {
      const text = input.value.trim();
      const v = Number(text);
      if (text === '' || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) || !Number.isFinite(v)) {
        err.textContent = 'Type a finite number, e.g. 0.5 or -1.2e-2';
        input.setAttribute('aria-invalid', 'true');
        return;
      }
      if (Math.abs(v) > 1000) { err.textContent = 'Keep it within ±1000'; input.setAttribute('aria-invalid', 'true'); return; }
      err.textContent = ''; input.removeAttribute('aria-invalid');
      onSet(v);
    };
    btn.addEventListener('click', submit);
    input.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); submit(); } });
    this.editError = err;
    this.editInput = input;
    return el('div', { class: 'editor' }, el('label', { for: 'weight-input' }, kind === 'bias' ? 'Edit bias' : 'Edit weight'), input, btn, err);
  }

  showEditError(message) {
    if (this.editError) this.editError.textContent = message;
  }

  /** A link was clicked. `names` = {from, to}; blame arrives later via setBlame. */
  showLink(l, i, j, { weight, names, layerName }) {
    this.mode = 'link'; this.target = { l, i, j };
    this.heading(`Weight ${names.weight || ''} ${names.from} → ${names.to}`.trim(),
      `row ${i + 1}: the neuron it feeds (${names.to}); column ${j + 1}: the input it reads (${names.from})`);
    this.main.replaceChildren(
      el('div', { class: 'insp-row' }, el('span', { class: 'lbl' }, 'w'), num('weight', weight, 6),
        this.editor('weight', weight, (v) => this.handlers.onSetWeight(l, i, j, v))),
      el('div', { class: 'blame', id: 'blame' }, el('p', { class: 'muted' }, 'computing the chain rule…')),
      el('div', { class: 'insp-actions' }, this.checkButton(true)),
    );
    this.names = names; this.layerName = layerName;
    this.checkBox.replaceChildren();
  }

  setWeightValue(w) {
    const span = this.main.querySelector('[data-value="weight"]');
    if (span) setNum(span, w, 6);
    // the editor follows the weight too, unless the user is typing in it
    const input = this.editInput;
    if (input && input.isConnected && document.activeElement !== input && w !== null && w !== undefined) {
      const text = String(Number(w.toPrecision(6)));
      if (input.value !== text) input.value = text;
    }
  }

  /** The finite-difference result belongs to the weights it was run on: drop it when they change. */
  clearCheck() { if (this.checkBox.firstChild) this.checkBox.replaceChildren(); }

  /** Predict, then reveal is on and Backward has not run: the blame stays hidden (true), or not. */
  hiding() { return !!(this.handlers.hiding && this.handlers.hiding()); }

  hiddenNote() {
    return el('p', { class: 'muted', 'data-hidden-blame': '' },
      'Predict, then reveal is on: ∂L/∂w and its sign stay hidden until you press Backward.');
  }

  /** Check it waits for Backward while predicting; it comes back with the blame. */
  syncCheck() {
    const b = this.main.querySelector('#check-it');
    if (b && (this.mode === 'link' || this.mode === 'bias')) b.replaceWith(this.checkButton(true));
  }

  setBlame(b) {
    this.syncCheck();
    if (b.j === 'bias') { this.setBiasBlame(b); return; }
    const box = this.main.querySelector('#blame');
    if (!box || this.mode !== 'link') return;
    if (this.hiding()) { box.replaceChildren(this.hiddenNote()); return; }
    const gw = b.grad_W;
    const delta = b.delta;
    const a = b.a_in;
    const p = palette();
    const sign = gw < 0 ? `▲ the loss wants this weight to increase (${p.incName})`
      : gw > 0 ? `▼ the loss wants this weight to decrease (${p.decName})` : 'no pull either way';
    const color = gradientColor(gw);
    const to = this.names ? this.names.to : 'this neuron';
    const from = this.names ? this.names.from : 'input';
    const rows = [
      el('div', { class: 'eq' },
        el('span', { class: 'lhs' }, '∂L/∂w'), ' = ', el('span', { class: 'sym' }, `δ(${to})`), ' · ', el('span', { class: 'sym' }, `a(${from})`)),
      el('div', { class: 'eq' }, el('span', { class: 'lhs' }), ' = ', num('delta', delta), ' · ', num('a_in', a)),
      el('div', { class: 'eq result' }, el('span', { class: 'lhs' }), ' = ',
        (() => { const s = num('grad_w', gw, 5); s.style.color = color; return s; })(),
        el('span', { class: 'verdict' }, sign)),
    ];
    const terms = (b.downstream || []).map((t) => ({ k: t[0], w: t[1], delta: t[2], product: t[3] }));
    const fprime = b.f_prime;
    const ctx = this.handlers.context ? this.handlers.context(b.layer, b.i) : {};
    const z = b.z ?? ctx.z;
    const act = b.activation || ctx.activation || '';
    const isOut = b.is_output;
    const lines = typeof b.formula === 'string' ? b.formula.split('\n') : [];
    const why = el('div', { class: 'why' });
    if (isOut) {
      why.append(el('p', {}, `δ(${to}) is the output's own error signal, straight from the loss: `,
        el('code', {}, this.lossDelta[this.lossName] || 'δ = ∂L/∂z')));
      const detail = el('div', { class: 'kv' });
      if (z !== undefined) detail.append('z = ', num('z', z), '   ');
      if (ctx.prediction !== undefined) detail.append('prediction = ', num('prediction', ctx.prediction), '   ');
      // a loss whose registry row has signed_targets (hinge) reads the 0/1 label as y = −1/+1: show that y
      if (ctx.target !== undefined && this.signedTargets.has(this.lossName)) {
        detail.append(`target: class ${ctx.target}, read as y = `, num('target', ctx.target >= 0.5 ? 1 : -1));
      } else if (ctx.target !== undefined) detail.append('target y = ', num('target', ctx.target));
      if (detail.childNodes.length) why.append(detail);
      if (lines.length > 1) why.append(el('div', { class: 'kv' }, lines.slice(1).join('\n')));
    } else {
      why.append(el('p', {}, `δ(${to}) came from the layer to its right: `,
        el('code', {}, 'δ = f′(z) · Σₖ wₖ δₖ')));
      const table = el('table', { class: 'terms' },
        el('thead', {}, el('tr', {}, el('th', {}, 'to'), el('th', {}, 'w'), el('th', {}, 'δₖ'), el('th', {}, 'w · δₖ'))));
      const tbody = el('tbody');
      for (const t of terms) {
        const name = this.handlers.neuronName ? this.handlers.neuronName(b.layer + 2, t.k) : `k=${t.k}`;
        const prod = t.product;          // the server's w·δ (nothing is recomputed here)
        const pcell = num('term', prod);
        pcell.style.color = gradientColor(prod);
        tbody.append(el('tr', {}, el('td', {}, name), el('td', {}, num('w', t.w)), el('td', {}, num('delta_k', t.delta)), el('td', {}, pcell)));
      }
      table.append(tbody);
      why.append(table);
      const kv = el('div', { class: 'kv' });
      kv.append('Σ = ∂L/∂a = ', num('sum', b.sum), '   ');
      if (z !== undefined) kv.append('z = ', num('z', z), '   ');
      kv.append(`${this.fprime[act] || "f′(z)"} = `, num('f_prime', fprime));
      why.append(kv);
      why.append(el('div', { class: 'kv' }, 'δ = f′(z) · Σ = ', num('f_prime_echo', fprime), ' · ', num('sum_echo', b.sum), ' = ', num('delta_echo', delta)));
    }
    box.replaceChildren(...rows, why);
  }

  setCheck(c) {
    const rel = c.rel_error;
    const ok = rel !== undefined && rel < 1e-4;
    const v = c.j === 'bias' ? 'b' : 'w';
    this.checkBox.replaceChildren(
      el('h4', {}, 'Check it: finite differences'),
      el('div', { class: 'kv' }, 'ε = ', num('eps', c.eps, 2),
        `   L(${v} + ε) = `, num('loss_plus', c.loss_plus, 10),
        `   L(${v} − ε) = `, num('loss_minus', c.loss_minus, 10)),
      el('div', { class: 'kv' }, `slope = (L(${v}+ε) − L(${v}−ε)) / 2ε = `, num('slope', c.slope, 8)),
      el('div', { class: 'kv' }, `backprop ∂L/∂${v} = `, num('backprop', c.backprop, 8)),
      el('div', { class: `kv verdict-line ${ok ? 'ok' : 'bad'}` }, 'relative error = ', num('rel_error', rel, 3),
        el('span', { class: 'badge' }, ok ? '✓ backprop agrees' : '✗ check failed')),
    );
  }

  /**
   * A neuron was clicked. `incoming` lists the weights that feed it ({l, i, j, from, w, g}): each one
   * opens that weight, which also makes every weight reachable from the keyboard.
   */
  showNeuron(c, i, name, { isInput, activation, incoming = [] }) {
    this.mode = 'neuron'; this.target = { c, i };
    this.chips = [];
    this.heading(`Neuron ${name}`, isInput ? 'input feature' : `activation ${activation}`);
    const list = incoming.length ? el('div', { class: 'incoming' }, el('h4', {}, 'Weights into this neuron'),
      ...incoming.map((x) => {
        const wSpan = el('span', { class: 'num' });
        const gSpan = el('span', { class: 'num' });
        const b = el('button', { type: 'button', class: 'chip-btn', title: `Inspect the weight ${x.from} → ${name}` },
          `${x.from} → ${name}`, wSpan, gSpan);
        b.addEventListener('click', () => this.handlers.onOpenLink(x.l, x.i, x.j));
        this.chips.push({ wSpan, gSpan });
        return b;
      })) : '';
    this.updateIncoming(incoming);
    this.main.replaceChildren(el('div', { class: 'neuron-vals', id: 'neuron-vals' }, el('p', { class: 'muted' }, 'reading…')),
      list, el('div', { class: 'insp-actions' }, this.checkButton(false)));
    this.checkBox.replaceChildren();
  }

  /** New weights or a new trace: refresh the weight chips in place (keeps keyboard focus). */
  updateIncoming(incoming) {
    if (this.mode !== 'neuron' || !this.chips) return;
    incoming.forEach((x, k) => {
      const chip = this.chips[k];
      if (!chip) return;
      const wt = ` w ${fmt(x.w, 3)}`;
      if (chip.wSpan.textContent !== wt) chip.wSpan.textContent = wt;
      const has = x.g !== null && x.g !== undefined && !this.hiding();
      const gt = has ? ` · ∂L/∂w ${fmt(x.g, 3)}` : '';
      if (chip.gSpan.textContent !== gt) chip.gSpan.textContent = gt;
      chip.gSpan.style.color = has ? gradientColor(x.g) : '';
    });
  }

  setNeuron(n) {
    const box = this.main.querySelector('#neuron-vals');
    if (!box || this.mode !== 'neuron') return;
    const rows = [];
    const add = (label, key, v, note) => {
      if (v === undefined || v === null) return;
      rows.push(el('div', { class: 'insp-row' }, el('span', { class: 'lbl' }, label), num(key, v, 5), note ? el('span', { class: 'muted' }, note) : ''));
    };
    add('z', 'z', n.z, 'pre-activation (weighted sum + bias)');
    add('a', 'a', n.a, 'activation f(z)');
    if (this.hiding()) rows.push(this.hiddenNote());
    else {
      add('∂L/∂a', 'grad_a', n.grad_a, 'how the loss changes with this output');
      add('δ = ∂L/∂z', 'delta', n.delta, 'f′(z) · ∂L/∂a: what flows into the weights on its left');
    }
    if (!rows.length) rows.push(el('p', { class: 'muted' }, 'no values yet: press Forward'));
    box.replaceChildren(...rows);
  }

  showBias(l, i, name, value) {
    this.mode = 'bias'; this.target = { l, i };
    this.heading(`Bias of ${name}`, this.handlers.biasName ? this.handlers.biasName(l, i) : '');
    this.main.replaceChildren(
      el('div', { class: 'insp-row' }, el('span', { class: 'lbl' }, 'b'), num('bias', value, 6),
        this.editor('bias', value, (v) => this.handlers.onSetWeight(l, i, 'bias', v))),
      el('div', { class: 'blame', id: 'blame' }, el('p', { class: 'muted' }, 'computing ∂L/∂b…')),
      el('div', { class: 'insp-actions' }, this.checkButton(true)),
    );
    this.names = { to: name };
    this.checkBox.replaceChildren();
  }

  /** ∂L/∂b = δ · 1, with this sample's numbers (the server's blame for j = "bias"). */
  setBiasBlame(b) {
    const box = this.main.querySelector('#blame');
    if (!box || this.mode !== 'bias') return;
    if (this.hiding()) { box.replaceChildren(this.hiddenNote()); return; }
    const g = b.grad_W;
    const p = palette();
    const sign = g < 0 ? `▲ the loss wants this bias to increase (${p.incName})`
      : g > 0 ? `▼ the loss wants this bias to decrease (${p.decName})` : 'no pull either way';
    const to = this.names ? this.names.to : 'this neuron';
    const res = num('grad_b', g, 5); res.style.color = gradientColor(g);
    const lines = typeof b.formula === 'string' ? b.formula.split('\n') : [];
    box.replaceChildren(
      el('div', { class: 'eq' }, el('span', { class: 'lhs' }, '∂L/∂b'), ' = ', el('span', { class: 'sym' }, `δ(${to})`), ' · 1'),
      el('div', { class: 'eq' }, el('span', { class: 'lhs' }), ' = ', num('delta', b.delta), ' · 1'),
      el('div', { class: 'eq result' }, el('span', { class: 'lhs' }), ' = ', res, el('span', { class: 'verdict' }, sign)),
      el('div', { class: 'why' }, el('p', {}, 'A bias is a weight on an input that is always 1, so its gradient is the neuron\'s δ itself.'),
        lines.length > 1 ? el('div', { class: 'kv' }, lines.slice(1).join('\n')) : ''),
    );
  }

  setUpdate(u) {
    const sb = u.sample_loss_before; const sa = u.sample_loss_after;
    const tb = u.train_loss_before; const ta = u.train_loss_after;
    const arrow = (b, a) => el('span', { class: a < b ? 'down' : a > b ? 'up' : '' }, a < b ? '↓' : a > b ? '↑' : '=');
    const rows = [
      el('h4', {}, `Apply this update: one SGD step on this sample only (lr ${fmt(u.lr, 3)})`),
      el('div', { class: 'kv' }, 'loss on this sample: ', num('sample_loss_before', sb, 5), ' → ', num('sample_loss_after', sa, 5), ' ', arrow(sb, sa)),
      el('div', { class: 'kv' }, 'loss on the training set: ', num('train_loss_before', tb, 5), ' → ', num('train_loss_after', ta, 5), ' ', arrow(tb, ta)),
    ];
    if (u.overshot) {
      const why = el('p', { class: 'overshoot', role: 'note' },
        'The loss on this sample went up: the gradient only says which way is downhill right here, and a full step of ',
        'lr × ∂L/∂w jumped past the bottom of the valley to the other side.');
      rows.push(why);
      if (u.suggested_scale) {
        const b = el('button', { type: 'button', class: 'step-btn small', id: 'smaller-step' },
          `Try a smaller step (lr × ${fmt(u.suggested_scale, 3)}): this sample's loss would fall to ${fmt(u.suggested_loss, 4)}`);
        b.addEventListener('click', () => this.handlers.onApplyUpdate(u.suggested_scale));
        rows.push(b);
      }
    }
    this.updateBox.replaceChildren(...rows);
  }

  setNudge(n) {
    const steps = n.path ? n.path.length - 1 : 0;
    const losses = n.losses || [];
    const lossText = losses.length > 1 ? ` Its loss against its true label rose from ${fmt(losses[0], 4)} to ${fmt(losses[losses.length - 1], 4)}.` : '';
    let text;
    if (n.from_class === null || n.from_class === undefined) {
      text = `A copy of this point took ${steps} steps along +∂L/∂x, uphill on its loss (opposite the −∂L/∂x arrow): the white path on the plane.`;
    } else if (n.already_wrong) {
      text = `This point is already misclassified (true class ${n.true_label}, predicted ${n.from_class}). ${steps} steps along +∂L/∂x, uphill on the loss of its true label (opposite the arrow), push it deeper into class ${n.to_class}.`;
    } else if (n.flipped) {
      text = `Moving a copy of this point along +∂L/∂x, uphill on the loss of its true label (opposite the −∂L/∂x arrow), flipped its predicted class from ${n.from_class} to ${n.to_class} after ${steps} small steps: an adversarial example. The dataset is unchanged.`;
    } else {
      text = `${steps} steps along +∂L/∂x did not flip the predicted class (class ${n.from_class}); the walk stopped at the edge of the plane or after its step budget.`;
    }
    this.updateBox.replaceChildren(el('h4', {}, 'Adversarial nudge'), el('p', { class: 'kv' }, text + lossText));
  }

  clearUpdate() { this.updateBox.replaceChildren(); }

  /** "1 forward + 1 backward: N µs · finite differences: 2P forwards ≈ M ms · K× faster" */
  setCost(cost) {
    if (!cost) return;
    const us = cost.forward_backward_ms * 1000;
    const fdForwards = cost.fd_passes;
    const fdUs = cost.fd_ms * 1000;
    const ratio = cost.ratio ?? undefined;
    const est = cost.fd_measured === false;
    this.cost.replaceChildren(
      el('span', { class: 'cost-title' }, 'Cost meter'),
      el('span', {}, 'forward + backward ', el('b', { 'data-value': 'cost_us', 'data-raw': us ?? '' }, fmtDuration(us))),
      el('span', { class: 'dot' }, '·'),
      el('span', { title: est ? 'estimated from the time of one forward pass' : 'measured' },
        `finite differences, 2P = ${fdForwards ?? '?'} forwards `, est ? '≈ ' : '',
        el('b', { 'data-value': 'fd_time', 'data-raw': fdUs ?? '' }, fmtDuration(fdUs))),
      el('span', { class: 'dot' }, '·'),
      el('b', { class: 'ratio', 'data-value': 'ratio', 'data-raw': ratio ?? '' }, ratio !== undefined ? `${fmt(ratio, 3)}× faster` : ''),
    );
  }
}
