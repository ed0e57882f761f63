// The "Gradient flow" strip: each layer's gradient size over training, on a log scale, on a canvas.
//
// Python computes the numbers (backlit.gradflow.layer_norms: per layer ‖δ‖, mean over the batch, and
// ‖∂L/∂W‖); this module only maps them to pixels. Each layer has its own colour and its own dash
// pattern (neighbouring layers differ in both), so no colour alone carries the meaning; orange and
// green stay reserved for a gradient's sign. The log axis always spans every value drawn.
//
//   const strip = new GradFlowStrip(container, { height: 120 });
//   strip.setData({ layers: ['layer 1', ..., 'output'], rows: [[epoch, [delta...], [grad_W...]], ...] });
//   strip.append(rows);              // more rows, e.g. from each frame while training
//   strip.setMetric('grad_W');       // or 'delta' (the default); also two toggle buttons
//
// Needs graph.css (classes gradflow-*). Badges for neurons: renderBadgeLegend(container, badges) with
// the {name: sentence} table the server sends (backlit.gradflow.BADGES).

// Distinct hues for a dark background, none of them orange or green (those mean a gradient's sign).
const COLORS = ['#5fb3ff', '#f06fc0', '#ffe066', '#b79cff', '#e8ecf4', '#3fd0e0', '#ff8a8a', '#8c9bb5'];
const DASHES = [[], [7, 3], [2, 3], [9, 3, 2, 3], [4, 4]];
export const BADGE_GLYPHS = { saturated: '≈', dead: '×' };

/** Layer k's colour: COLORS and DASHES cycle at different lengths, so no two of 40 layers look alike. */
function layerColor(k) { return COLORS[k % COLORS.length]; }
function layerDash(k) { return DASHES[k % DASHES.length]; }

function short(v) {
  return v === null || v === undefined ? '–' : v.toExponential(1);
}

export class GradFlowStrip {
  constructor(container, { height = 120, label = 'Gradient flow' } = {}) {
    this.height = height;
    this.metric = 'delta';
    this.layers = [];
    this.rows = [];
    this.root = document.createElement('figure');
    this.root.className = 'gradflow';
    const caption = document.createElement('figcaption');
    caption.textContent = `${label}: each layer's gradient size over training (log scale) `;
    this.toggles = {};
    for (const [metric, text, title] of [['delta', '‖δ‖', 'per-sample ‖∂ℓ/∂z‖, mean over the batch'],
                                         ['grad_W', '‖∂L/∂W‖', 'the weights’ gradient norm']]) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'gv-btn gradflow-toggle';
      b.dataset.metric = metric;
      b.textContent = text;
      b.title = title;
      b.addEventListener('click', () => this.setMetric(metric));
      this.toggles[metric] = b;
      caption.append(b);
    }
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'gradflow-strip';
    this.canvas.setAttribute('role', 'img');
    this.legend = document.createElement('div');
    this.legend.className = 'gradflow-legend';
    this.root.append(caption, this.canvas, this.legend);
    container.append(this.root);
    this.setMetric('delta');
  }

  setData({ layers, rows = [] }) {
    this.layers = layers.slice();
    this.rows = rows.slice();
    this._legend();
    this.draw();
  }

  append(rows) {
    this.rows.push(...rows);
    this.draw();
  }

  setMetric(metric) {
    this.metric = metric;
    for (const [m, b] of Object.entries(this.toggles)) b.setAttribute('aria-pressed', String(m === metric));
    this.draw();
  }

  _legend() {
    this.legend.replaceChildren();
    this.layers.forEach((name, k) => {
      const item = document.createElement('span');
      const sw = document.createElement('canvas');
      sw.width = 24; sw.height = 8;
      const g = sw.getContext('2d');
      g.strokeStyle = layerColor(k);
      g.lineWidth = 2;
      g.setLineDash(layerDash(k));
      g.beginPath(); g.moveTo(0, 4); g.lineTo(24, 4); g.stroke();
      sw.setAttribute('aria-hidden', 'true');
      item.append(sw, ` ${name}`);
      this.legend.append(item);
    });
  }

  draw() {
    const cv = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(120, cv.clientWidth || 320);
    const h = this.height;
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(h * dpr);
    cv.style.height = `${h}px`;
    const g = cv.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const col = this.metric === 'delta' ? 1 : 2;
    const pts = [];
    for (const r of this.rows) {
      for (let k = 0; k < (r[col] || []).length; k++) {
        const v = r[col][k];
        if (v > 0) pts.push([r[0], Math.log10(v), k]);   // the axis is log10: a layout choice
      }
    }
    const name = this.metric === 'delta' ? '‖δ‖' : '‖∂L/∂W‖';
    const last = this.rows[this.rows.length - 1];
    const summary = last ? this.layers.map((n, k) => `${n} ${short(last[col][k])}`).join(', ') : 'no steps yet';
    cv.setAttribute('aria-label', `Gradient flow, ${name} per layer on a log scale` +
      (last ? ` at epoch ${Number(last[0]).toFixed(2)}: ${summary}` : `: ${summary}`));
    if (!pts.length) return;
    const pad = { l: 34, r: 6, t: 6, b: 14 };
    let x0 = Infinity; let x1 = -Infinity; let y0 = Infinity; let y1 = -Infinity;
    for (const [x, y] of pts) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    // whole decades that hold every value (log10 of 0.5 is below 0: its decade's top is 1e0)
    y0 = Math.floor(y0); y1 = Math.ceil(y1);
    if (y1 <= y0) y1 = y0 + 1;
    this.axis = { from: y0, to: y1 };
    if (x1 === x0) x1 = x0 + 1;
    const X = (x) => pad.l + (x - x0) / (x1 - x0) * (w - pad.l - pad.r);
    const Y = (y) => pad.t + (y1 - y) / (y1 - y0) * (h - pad.t - pad.b);
    g.font = '10px sans-serif';
    g.fillStyle = '#8a93a6';
    g.strokeStyle = 'rgba(138,147,166,0.25)';
    g.lineWidth = 1;
    const step = Math.max(1, Math.ceil((y1 - y0) / 4));
    for (let e = y0; e <= y1; e += step) {
      g.beginPath(); g.moveTo(pad.l, Y(e)); g.lineTo(w - pad.r, Y(e)); g.stroke();
      g.fillText(`1e${e}`, 2, Y(e) + 3);
    }
    for (let k = 0; k < this.layers.length; k++) {
      g.strokeStyle = layerColor(k);
      g.setLineDash(layerDash(k));
      g.lineWidth = 1.8;
      g.beginPath();
      let pen = false;
      for (const r of this.rows) {
        const v = (r[col] || [])[k];
        if (!(v > 0)) { pen = false; continue; }
        const px = X(r[0]); const py = Y(Math.log10(v));
        if (pen) g.lineTo(px, py); else g.moveTo(px, py);
        pen = true;
      }
      g.stroke();
    }
    g.setLineDash([]);
  }
}

/** A legend for the neuron badges: one line per badge, the glyph and the server's sentence. */
export function renderBadgeLegend(container, badges) {
  const list = document.createElement('ul');
  list.className = 'gradflow-badges';
  for (const [name, sentence] of Object.entries(badges)) {
    const li = document.createElement('li');
    li.dataset.badge = name;
    li.textContent = `${BADGE_GLYPHS[name] || '!'} ${sentence}`;
    list.append(li);
  }
  container.replaceChildren(list);
  return list;
}
