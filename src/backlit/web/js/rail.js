// The rail: loss curve (train + test vs epoch) with hover values, and the loss/accuracy numbers.

import { fitCanvas, setNum, fmt } from './format.js';

// CPU-backed canvases: small, redrawn often, and fast without a GPU (headless, VMs, old laptops).
const CTX = { willReadFrequently: true };

const TRAIN = '#e9edf5';
const TEST = '#a889ff';

const LOG_AFTER = 20;  // epochs

export class Rail {
  constructor(canvas, hoverOut) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', CTX);
    this.hoverOut = hoverOut;
    this.epochs = [];
    this.train = [];
    this.test = [];
    this.hoverIndex = -1;
    this.dirty = true;
    this.dpr = 1;
    this.els = {
      trainLoss: document.getElementById('train-loss'),
      testLoss: document.getElementById('test-loss'),
      trainAcc: document.getElementById('train-acc'),
      testAcc: document.getElementById('test-acc'),
    };
    new ResizeObserver(() => this.resize()).observe(canvas);
    canvas.addEventListener('mousemove', (ev) => this.hover(ev));
    canvas.addEventListener('mouseleave', () => { this.hoverIndex = -1; this.hoverOut.textContent = ''; this.dirty = true; });
    this.resize();
  }

  resize() {
    const { dpr, changed } = fitCanvas(this.canvas);
    this.dpr = dpr;
    if (changed) this.dirty = true;
  }

  /** Append history rows [epoch, train_loss, test_loss]; `reset` replaces everything. */
  addHistory(rows, reset) {
    if (reset) { this.epochs = []; this.train = []; this.test = []; }
    if (!rows || !rows.length) { if (reset) this.dirty = true; return; }
    for (const row of rows) {
      this.epochs.push(row[0]); this.train.push(row[1]); this.test.push(row[2]);
    }
    this.dirty = true;
  }

  setMetrics(h) {
    setNum(this.els.trainLoss, h.train_loss, 3);
    setNum(this.els.testLoss, h.test_loss, 3);
    const pct = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);
    setNum(this.els.trainAcc, pct(h.train_acc), 4);
    setNum(this.els.testAcc, pct(h.test_acc), 4);
    if (this.els.trainAcc) this.els.trainAcc.dataset.raw = h.train_acc ?? '';
    if (this.els.testAcc) this.els.testAcc.dataset.raw = h.test_acc ?? '';
    document.body.classList.toggle('no-accuracy', h.train_acc === null || h.train_acc === undefined);
  }

  /** Plot area; the left margin fits the widest y label (a diverged loss reads "1.2e+249"). */
  geom(r = this.range()) {
    const w = this.canvas.width / this.dpr;
    const h = this.canvas.height / this.dpr;
    this.ctx.font = '10px system-ui, sans-serif';
    const x0 = 8 + Math.max(26, this.ctx.measureText(fmt(r.ymax, 2)).width);
    return { x0, y0: 6, w: Math.max(10, w - x0 - 6), h: Math.max(10, h - 22) };
  }

  /**
   * Fraction of the width at epoch e. Past LOG_AFTER epochs the axis is logarithmic (log(1 + e)), so
   * a long run keeps its first, steep epochs readable instead of pressing them against the y-axis.
   */
  xFrac(e, r) { return r.log ? Math.log1p(e) / Math.log1p(r.xmax) : e / r.xmax; }
  epochAt(frac, r) { return r.log ? Math.expm1(frac * Math.log1p(r.xmax)) : frac * r.xmax; }

  range() {
    const n = this.epochs.length;
    const xmax = n ? Math.max(this.epochs[n - 1], 1) : 1;
    let ymax = 0;
    for (let k = 0; k < n; k++) {
      if (Number.isFinite(this.train[k])) ymax = Math.max(ymax, this.train[k]);
      if (Number.isFinite(this.test[k])) ymax = Math.max(ymax, this.test[k]);
    }
    return { xmax, ymax: ymax > 0 ? ymax * 1.05 : 1, log: xmax > LOG_AFTER };
  }

  hover(ev) {
    const n = this.epochs.length;
    if (!n) return;
    const r = this.canvas.getBoundingClientRect();
    const rg = this.range();
    const g = this.geom(rg);
    const e = this.epochAt((ev.clientX - r.left - g.x0) / g.w, rg);
    let lo = 0; let hi = n - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.epochs[mid] < e) lo = mid + 1; else hi = mid; }
    if (lo > 0 && Math.abs(this.epochs[lo - 1] - e) < Math.abs(this.epochs[lo] - e)) lo -= 1;
    this.hoverIndex = lo;
    this.hoverOut.textContent = `epoch ${Math.floor(this.epochs[lo])} · train ${fmt(this.train[lo], 3)} · test ${fmt(this.test[lo], 3)}`;
    this.dirty = true;
  }

  line(ctx, g, r, ys, color, dash) {
    const n = ys.length;
    if (!n) return;
    const stride = Math.max(1, Math.floor(n / (g.w * 2)));
    ctx.strokeStyle = color; ctx.lineWidth = 1.6; ctx.setLineDash(dash);
    ctx.beginPath();
    let started = false;
    for (let k = 0; k < n; k += stride) {
      const v = ys[k];
      if (!Number.isFinite(v)) continue;
      const x = g.x0 + this.xFrac(this.epochs[k], r) * g.w;
      const y = g.y0 + g.h - v / r.ymax * g.h;
      if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
    }
    const last = n - 1;
    if (Number.isFinite(ys[last])) ctx.lineTo(g.x0 + this.xFrac(this.epochs[last], r) * g.w, g.y0 + g.h - ys[last] / r.ymax * g.h);
    ctx.stroke();
    ctx.setLineDash([]);
  }

  draw() {
    if (!this.dirty) return false;
    this.dirty = false;
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const r = this.range();
    const g = this.geom(r);
    ctx.font = '10px system-ui, sans-serif';
    ctx.fillStyle = '#8a93a6';
    ctx.strokeStyle = 'rgba(255,255,255,0.08)';
    ctx.lineWidth = 1;
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
    for (let k = 0; k <= 2; k++) {
      const v = r.ymax * k / 2;
      const y = Math.round(g.y0 + g.h - g.h * k / 2) + 0.5;
      ctx.beginPath(); ctx.moveTo(g.x0, y); ctx.lineTo(g.x0 + g.w, y); ctx.stroke();
      ctx.fillText(fmt(v, 2), g.x0 - 4, y);
    }
    ctx.textAlign = 'left'; ctx.textBaseline = 'top';
    ctx.fillText('0', g.x0, g.y0 + g.h + 4);
    // the axis title sits at the right end; a tick label that would run into it is left out
    const title = this.epochs.length ? `epoch ${fmt(r.xmax, 3)}${r.log ? ' (log scale)' : ''}` : 'epoch';
    const titleLeft = g.x0 + g.w - ctx.measureText(title).width;
    const drawn = [{ text: '0', left: g.x0, right: g.x0 + ctx.measureText('0').width }];
    if (r.log) {
      ctx.textAlign = 'center';
      for (let t = 1; t < r.xmax; t *= 10) {
        const x = g.x0 + this.xFrac(t, r) * g.w;
        const half = ctx.measureText(String(t)).width / 2;
        if (x - half < drawn[drawn.length - 1].right + 6 || x + half > titleLeft - 8) continue;
        ctx.fillText(String(t), x, g.y0 + g.h + 4);
        ctx.fillRect(x, g.y0 + g.h, 1, 3);
        drawn.push({ text: String(t), left: x - half, right: x + half });
      }
    }
    ctx.textAlign = 'right';
    ctx.fillText(title, g.x0 + g.w, g.y0 + g.h + 4);
    drawn.push({ text: title, left: titleLeft, right: g.x0 + g.w });
    this.canvas.dataset.axisLabels = JSON.stringify(drawn.map((d) => [d.text, Math.round(d.left), Math.round(d.right)]));
    this.canvas.dataset.scale = r.log ? 'log' : 'linear';
    if (!this.epochs.length) {
      ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
      ctx.fillText('press Train to draw the loss curve', g.x0 + g.w / 2, g.y0 + g.h / 2);
      return true;
    }
    this.line(ctx, g, r, this.test, TEST, [4, 3]);
    this.line(ctx, g, r, this.train, TRAIN, []);
    const k = this.hoverIndex;
    if (k >= 0 && k < this.epochs.length) {
      const x = g.x0 + this.xFrac(this.epochs[k], r) * g.w;
      ctx.strokeStyle = 'rgba(255,255,255,0.35)';
      ctx.beginPath(); ctx.moveTo(x + 0.5, g.y0); ctx.lineTo(x + 0.5, g.y0 + g.h); ctx.stroke();
      for (const [ys, c] of [[this.train, TRAIN], [this.test, TEST]]) {
        if (!Number.isFinite(ys[k])) continue;
        ctx.fillStyle = c;
        ctx.beginPath(); ctx.arc(x, g.y0 + g.h - ys[k] / r.ymax * g.h, 3, 0, Math.PI * 2); ctx.fill();
      }
    }
    return true;
  }
}
