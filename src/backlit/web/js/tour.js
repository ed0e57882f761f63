// The guided first minute: Forward -> Backward -> Train -> Next sample.
// Each step rings its control and says what to watch. Pressing that control (with the mouse, or its
// key: F, B, Space, N) moves on once what it started has played (the forward or backward pass); the
// card's Next moves on at once; Esc or "Skip tour" ends it. The card parks beside its control, where it
// covers neither the control nor what the step asks you to watch. It starts by itself on
// the first visit only: localStorage remembers "done" or "skipped", and `?notour` in the URL keeps it
// away for one load.

import { el } from './format.js';

const STORE = 'backlit.tour';

const STEPS = [
  {
    id: 'forward', target: '#forward', key: 'f', keyName: 'F', waits: 'forward-done', watch: '#net-stage',
    title: 'Forward: the network makes a guess',
    text: 'Press Forward. Watch the neurons light up column by column, from left to right: the selected '
      + 'point goes in on the left, the number under each hidden neuron is its output a for this point, and '
      + 'the last column is the network\'s guess: its number is z, which the line below turns into a prediction.',
  },
  {
    id: 'backward', target: '#backward', key: 'b', keyName: 'B', waits: 'backward-done', watch: '#net-stage',
    title: 'Backward: the error is shared out',
    text: 'Press Backward. Now it runs from right to left: a halo grows around each neuron, wider where its '
      + '|δ| is larger (where it mattered more for the error), and every link turns orange (the loss wants '
      + 'that weight larger) or green (smaller); grey links have almost no pull.',
  },
  {
    id: 'train', target: '#play', key: ' ', keyName: 'Space', watch: '.col-out',
    title: 'Train: many small steps',
    text: 'Press Train. The network repeats those two passes on batch after batch and moves every weight a '
      + 'little each time. Watch the coloured background of the plane reshape around the points, and the '
      + 'loss curve above it fall.',
  },
  {
    id: 'next', target: '#next-sample', key: 'n', keyName: 'N', waits: 'backward-done', watch: '#net-stage',
    avoid: ['#play'],   // its text asks for Pause first
    title: 'Next sample: each point blames differently',
    text: 'Press Pause when you have seen enough, then Next sample a few times. Each press plays that '
      + 'point\'s own forward and backward pass, and it lights up its own pattern of links: training '
      + 'follows the average of all that blame. The Learn button explains each thing you saw.',
  },
];

const TEXT_TYPES = new Set(['text', 'number', 'search', 'email', 'url', 'password', 'tel', 'file']);

export class Tour {
  constructor(root, startButton) {
    this.root = root;
    this.startButton = startButton;
    this.index = -1;               // -1: not running
    this.autoTried = false;
    this.target = null;
    this.returnFocus = null;
    this.build();
    startButton.addEventListener('click', () => this.start({ auto: false }));
    this.onTargetClick = () => this.afterTarget();
    this.onBeforeClick = () => requestAnimationFrame(() => {
      if (this.target) this.target.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    });
    this.onKey = (ev) => this.key(ev);
    this.onMove = () => this.place();
    window.backlitTour = this;     // for tests and the console
  }

  get running() { return this.index >= 0; }

  build() {
    this.root.classList.add('tour-root');
    this.stepNo = el('span', { class: 'tour-count' }, '');
    this.title = el('h2', { id: 'tour-title', class: 'tour-title' }, '');
    this.text = el('p', { id: 'tour-text', class: 'tour-text' }, '');
    this.hint = el('p', { class: 'tour-hint' }, '');
    this.skipBtn = el('button', { type: 'button', class: 'ghost-btn small tour-skip' }, 'Skip tour');
    this.nextBtn = el('button', { type: 'button', class: 'tour-next' }, 'Next');
    this.skipBtn.addEventListener('click', () => this.end('skipped'));
    this.nextBtn.addEventListener('click', () => this.advance());
    this.card = el('div', {
      class: 'tour-card', role: 'dialog', 'aria-modal': 'false',
      'aria-labelledby': 'tour-title', 'aria-describedby': 'tour-text', tabIndex: -1,
    },
    this.stepNo, this.title,
    el('div', { 'aria-live': 'polite', class: 'tour-live' }, this.text),
    this.hint,
    el('div', { class: 'tour-actions' }, this.skipBtn, this.nextBtn));
    this.card.hidden = true;
    this.root.replaceChildren(this.card);
  }

  /** Called after every state: start once, on a first visit. */
  maybeStart() {
    if (this.autoTried) return;
    this.autoTried = true;
    // not by itself inside a notebook widget: the notebook walks the learner through instead
    if (suppressed() || this.root.closest('.backlit-widget')) return;
    // let the page lay out its first network before measuring where the controls are
    requestAnimationFrame(() => requestAnimationFrame(() => { if (!this.running) this.start({ auto: true }); }));
  }

  start({ auto = false } = {}) {
    if (!this.running) {
      const a = document.activeElement;
      this.returnFocus = auto || !a || a === document.body ? null : a;
      document.addEventListener('keydown', this.onKey, true);
      window.addEventListener('resize', this.onMove);
      window.addEventListener('scroll', this.onMove, true);
      // the page may still be laying itself out (network, inspector): follow the control
      this.timer = setInterval(this.onMove, 300);
      this.resizes = new ResizeObserver(this.onMove);
      this.resizes.observe(document.body);
    }
    this.card.hidden = false;
    document.body.classList.add('touring');
    this.show(0);
    this.nextBtn.focus({ preventScroll: true });
  }

  show(i) {
    this.untarget();
    this.index = i;
    const step = STEPS[i];
    this.card.dataset.step = step.id;
    this.stepNo.textContent = `Step ${i + 1} of ${STEPS.length}`;
    this.title.textContent = step.title;
    this.text.textContent = step.text;
    this.hint.textContent = coarse()
      ? 'Tap the ringed button.'
      : `Press the ringed button, or ${step.keyName === 'Space' ? 'the Space bar' : `the ${step.keyName} key`}.`;
    this.nextBtn.textContent = i === STEPS.length - 1 ? 'Finish' : 'Next';
    this.shownAt = performance.now();
    this.target = document.querySelector(step.target);
    this.watch = step.watch ? document.querySelector(step.watch) : null;
    if (this.target) {
      this.target.classList.add('tour-target');
      this.target.addEventListener('click', this.onTargetClick);
      this.target.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    }
    // a control the text asks for first (Pause): once pressed, the step's own control comes back into view
    this.before = (step.avoid || []).map((sel) => document.querySelector(sel)).filter(Boolean);
    for (const e of this.before) e.addEventListener('click', this.onBeforeClick);
    this.place();
  }

  /** The ringed control was pressed: move on once what it started has played out. */
  afterTarget() {
    const step = STEPS[this.index];
    if (!step || !step.waits) { this.advance(); return; }
    const net = document.getElementById('network');
    const index = this.index;
    let seen = false;
    const done = () => { clearTimeout(this.waitTimer); if (this.phaseWatch) this.phaseWatch.disconnect(); this.phaseWatch = null; };
    const check = () => {
      const phase = net ? net.dataset.phase : step.waits;
      if (phase !== step.waits) seen = true;          // the animation has begun
      if (seen && phase === step.waits) { done(); if (this.index === index) this.advance(); }
    };
    done();
    this.phaseWatch = new MutationObserver(check);
    if (net) this.phaseWatch.observe(net, { attributes: true, attributeFilter: ['data-phase'] });
    this.waitTimer = setTimeout(() => { done(); if (this.index === index) this.advance(); }, 15000);
    check();
  }

  untarget() {
    for (const e of this.before || []) e.removeEventListener('click', this.onBeforeClick);
    this.before = [];
    if (!this.target) return;
    this.target.classList.remove('tour-target');
    this.target.removeEventListener('click', this.onTargetClick);
    this.target = null;
  }

  advance() {
    if (!this.running) return;
    if (this.index + 1 < STEPS.length) {
      this.show(this.index + 1);
    } else {
      this.end('done');
    }
  }

  end(how) {
    if (!this.running) return;
    const lastTarget = this.target;
    clearTimeout(this.waitTimer);
    if (this.phaseWatch) { this.phaseWatch.disconnect(); this.phaseWatch = null; }
    const cardHadFocus = this.card.contains(document.activeElement);
    this.untarget();
    this.index = -1;
    this.card.hidden = true;
    delete this.card.dataset.step;
    document.body.classList.remove('touring');
    document.removeEventListener('keydown', this.onKey, true);
    window.removeEventListener('resize', this.onMove);
    window.removeEventListener('scroll', this.onMove, true);
    clearInterval(this.timer);
    if (this.resizes) this.resizes.disconnect();
    try { localStorage.setItem(STORE, how); } catch { /* private mode */ }
    if (cardHadFocus) {
      const back = this.returnFocus && this.returnFocus.isConnected ? this.returnFocus : (lastTarget || this.startButton);
      back.focus({ preventScroll: true });
    }
    this.returnFocus = null;
  }

  key(ev) {
    if (!this.running) return;
    if (ev.key === 'Escape') { ev.preventDefault(); ev.stopPropagation(); this.end('skipped'); return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const step = STEPS[this.index];
    if (!step || ev.key.toLowerCase() !== step.key) return;
    // mirror keys.js: letters are ignored while typing; Space belongs to a focused button or input
    const t = ev.target;
    if (!(t instanceof Element)) return;
    const tag = t.tagName;
    if (tag === 'TEXTAREA' || tag === 'SELECT' || (t instanceof HTMLElement && t.isContentEditable)) return;
    if (tag === 'INPUT' && TEXT_TYPES.has((t.getAttribute('type') || 'text').toLowerCase())) return;
    if (step.key === ' ' && (tag === 'BUTTON' || tag === 'INPUT' || t.getAttribute('role') === 'button')) return;
    this.afterTarget();
  }

  /**
   * Park the card beside the ringed control: below, above, right or left of it, inside the viewport,
   * wherever it covers the least of what the step asks you to watch (and never the control itself).
   */
  place() {
    if (!this.running || this.card.hidden) return;
    const vw = document.documentElement.clientWidth;
    const vh = document.documentElement.clientHeight;
    const card = this.card;
    const cw = card.offsetWidth;
    const ch = card.offsetHeight;
    const gap = 12;
    const clampX = (x) => Math.min(Math.max(x, 8), Math.max(8, vw - cw - 8));
    const clampY = (y) => Math.min(Math.max(y, 8), Math.max(8, vh - ch - 8));
    let best = { left: (vw - cw) / 2, top: vh - ch - gap, side: 'none', cost: Infinity };
    if (this.target) {
      let r = this.target.getBoundingClientRect();
      // the page may still be laying itself out after the step began: keep its control in view
      // (only for a moment, so that the learner can scroll away afterwards)
      if ((r.top < 0 || r.bottom > vh) && performance.now() - this.shownAt < 2500) {
        this.target.scrollIntoView({ block: 'nearest', inline: 'nearest' });
        r = this.target.getBoundingClientRect();
      }
      const w = this.watch ? this.watch.getBoundingClientRect() : null;
      const step = STEPS[this.index];
      const keep = [r, ...(step.avoid || []).map((sel) => document.querySelector(sel)).filter(Boolean)
        .map((e) => e.getBoundingClientRect())];
      const cx = r.left + r.width / 2 - cw / 2;
      const cy = r.top + r.height / 2 - ch / 2;
      const spots = [
        { side: 'below', left: clampX(cx), top: r.bottom + gap },
        { side: 'above', left: clampX(cx), top: r.top - gap - ch },
        { side: 'right', left: r.right + gap, top: clampY(cy) },
        { side: 'left', left: r.left - gap - cw, top: clampY(cy) },
        // no room beside it: a corner of the screen, away from the control
        { side: 'none', left: 8, top: vh - ch - 8 }, { side: 'none', left: vw - cw - 8, top: vh - ch - 8 },
        { side: 'none', left: vw - cw - 8, top: 8 }, { side: 'none', left: 8, top: 8 },
      ];
      for (const sp of spots) {
        const box = { left: sp.left, top: sp.top, right: sp.left + cw, bottom: sp.top + ch };
        if (box.left < 4 || box.top < 4 || box.right > vw - 4 || box.bottom > vh - 4) continue;
        if (keep.some((k) => overlap(box, k) > 0)) continue;
        // the watched area, as far as it is on screen; beside the control beats a corner
        const cost = (w ? overlap(box, clip(w, vw, vh)) : 0) + (sp.side === 'none' ? 1 : 0);
        if (cost < best.cost) best = { ...sp, cost };
      }
      const arrow = Math.min(Math.max(r.left + r.width / 2 - best.left, 18), cw - 18);
      card.style.setProperty('--arrow-x', `${arrow}px`);
      if (best.side === 'left' || best.side === 'right') best.side = 'none';
    }
    card.dataset.side = best.side;
    card.style.left = `${Math.round(best.left)}px`;
    card.style.top = `${Math.round(best.top)}px`;
  }
}

/** Area shared by two rectangles ({left, top, right, bottom}). */
function overlap(a, b) {
  return Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left))
    * Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
}
function clip(r, vw, vh) {
  return { left: Math.max(0, r.left), top: Math.max(0, r.top), right: Math.min(vw, r.right), bottom: Math.min(vh, r.bottom) };
}
/** A touch screen without a mouse: no keys to name. */
function coarse() { return !!(window.matchMedia && window.matchMedia('(hover: none) and (pointer: coarse)').matches); }

function suppressed() {
  try {
    if (new URLSearchParams(location.search).has('notour')) return true;
  } catch { /* ignore */ }
  try {
    const v = localStorage.getItem(STORE);
    return v === 'done' || v === 'skipped';
  } catch {
    return false;
  }
}
