// The course view: the open lesson's step (its words, its givens, its exercise, the feedback), the
// lessons to jump to, and a calmer page that shows only the regions the step lists.
//
// Everything comes from the server: the lessons and regions from schema.course, and per step the
// `lesson` message (which step is open, the steps done, the givens, the feedback on an answer). No
// answer is ever here before the learner has answered; the page only shows what the server graded.
// Progress is mirrored in localStorage; `#lesson=<name>&step=<n>` (n from 1) opens a step by link.

import { el } from './format.js';
import { drawExpressionGraph } from './exprlab.js';

const STORE = 'backlit.course';
const ANSWERED = { number: true, choice: true, links: true };   // check kinds the learner answers

/** {lesson, step} from a hash like "lesson=chain-rule&step=2" (step from 1), or null. */
export function lessonFromHash(hash) {
  const pairs = new URLSearchParams((hash || '').replace(/^#/, ''));
  const lesson = pairs.get('lesson');
  if (!lesson) return null;
  const n = Number.parseInt(pairs.get('step') || '1', 10);
  return { lesson, step: Number.isInteger(n) && n >= 1 ? n - 1 : 0 };
}

/** The hash without its lesson and step pairs (what is left is the configuration's url_state). */
export function stripLessonHash(hash) {
  return (hash || '').replace(/^#/, '').split('&').filter((p) => p && !/^(lesson|step)=/.test(p)).join('&');
}

function readStore() {
  try { return JSON.parse(localStorage.getItem(STORE) || 'null'); } catch { return null; }
}
function writeStore(v) {
  try { localStorage.setItem(STORE, JSON.stringify(v)); } catch { /* private mode */ }
}

/** A typed number: "0.25", "-1,5", "−0.3" (a typographic minus), "2e-3". NaN when it is none. */
export function parseNumber(text) {
  const t = String(text).trim().replace(/\u2212/g, '-').replace(/,/g, '.');
  if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t)) return NaN;
  return Number(t);
}

export class LessonView {
  /**
   * @param root    the <aside> the lesson card is drawn into
   * @param toggle  the status line's Course button
   * @param hooks   {send(type, payload), onUnlock(), onSetup(), onDecline()}
   */
  constructor(root, toggle, hooks) {
    this.root = root;
    this.toggle = toggle;
    this.hooks = hooks;
    this.course = null;      // schema.course: {lessons, regions, page_events}
    this.msg = null;         // the last lesson message
    this.pendingOpen = lessonFromHash(location.hash);
    this.offered = false;
    this.sent = null;        // the last answer sent (kept on screen with its feedback)
    this.lab = null;         // the expression lab beside the card, when the step has one
    this.labView = null;
    this.labMode = 'reverse';
    toggle.addEventListener('click', () => (this.active ? this.leave() : this.showMenu()));
    window.backlitLesson = this;   // for tests and the console
  }

  get active() { return !!(this.msg && this.msg.lesson); }
  get lesson() { return this.active ? this.course.lessons.find((l) => l.name === this.msg.lesson) : null; }
  get step() { return this.lesson ? this.lesson.steps[this.msg.step] : null; }

  /** The hash the page shows: the step's link in a lesson, else the configuration's. */
  hash(urlState) { return this.active ? `lesson=${encodeURIComponent(this.msg.lesson)}&step=${this.msg.step + 1}` : urlState; }

  /** A hash typed or followed by hand: true when it is a lesson link (then it is opened). */
  handleHash(hash) {
    const want = lessonFromHash(hash);
    if (!want) return false;
    if (!this.active || want.lesson !== this.msg.lesson || want.step !== this.msg.step) this.open(want.lesson, want.step);
    return true;
  }

  setSchema(course) {
    this.course = course;
  }

  /** After the first state of a connection: restore progress, open a linked lesson, or offer lesson 1. */
  connected() {
    if (!this.course) return false;
    const stored = readStore();
    if (stored && stored.done && Object.keys(stored.done).length) this.hooks.send('lesson_progress', { done: stored.done });
    if (this.pendingOpen) {
      const { lesson, step } = this.pendingOpen;
      this.pendingOpen = null;
      this.open(lesson, step);
      return true;
    }
    if (this.active) { this.open(this.msg.lesson, this.msg.step); return true; }   // a reconnect
    return false;
  }

  /** The first visit (nothing stored, no tour seen): offer lesson 1 instead of the tour. */
  maybeOffer() {
    if (this.offered || !this.course) return this.offered;
    this.offered = true;
    let seen = false;
    try { seen = localStorage.getItem(STORE) !== null || localStorage.getItem('backlit.tour') !== null; } catch { seen = true; }
    if (seen || /[?&]notour\b/.test(location.search) || this.root.closest('.backlit-widget')) return false;
    this.showMenu(true);
    return true;
  }

  open(lesson, step = 0) {
    this.sent = null;
    this.hooks.send('lesson_open', { lesson, step });
  }

  leave() {
    this.hooks.send('lesson_leave');
  }

  pageEvent(name) {
    const st = this.step;
    if (st && st.check.kind === 'do' && st.check.event === name) this.hooks.send('lesson_event', { event: name });
  }

  onMessage(msg) {
    const before = this.msg;
    const wasPending = !!(this.active && this.step.check.kind in ANSWERED && !this.isDone(before, before.lesson, before.step));
    this.msg = msg;
    writeStore({ done: msg.done || {}, last: msg.lesson ? { lesson: msg.lesson, step: msg.step } : null });
    if (!msg.lesson) { this.freePlay(); if (wasPending) this.hooks.onUnlock(); return; }
    const moved = !before || before.lesson !== msg.lesson || before.step !== msg.step;
    const pendingNow = this.step.check.kind in ANSWERED && !this.isDone(msg, msg.lesson, msg.step);
    if (moved) { this.sent = null; this.applyRegions(); this.hooks.onSetup(); }
    // the sample's trace is held back while an exercise is open: ask for it again once none is
    if (!pendingNow && (moved || wasPending)) this.hooks.onUnlock();
    this.render(moved);
    this.renderLab(msg);
  }

  isDone(msg, lesson, step) { return !!(msg.done && msg.done[lesson] && msg.done[lesson].includes(step)); }

  // ---- the calmer page ----
  applyRegions() {
    const show = new Set(this.step.show);
    document.body.classList.add('in-lesson');
    for (const node of document.querySelectorAll('[data-region]')) {
      node.classList.toggle('lesson-hidden', !show.has(node.dataset.region));
    }
    for (const group of document.querySelectorAll('[data-region-group]')) {
      const parts = [...group.querySelectorAll('[data-region]')];
      group.classList.toggle('lesson-hidden', parts.length > 0 && parts.every((n) => n.classList.contains('lesson-hidden')));
    }
    for (const name of this.step.panels || []) {
      const region = this.course.regions.find((r) => r.name === name);
      const node = document.querySelector(`[data-region="${name}"]`);
      if (region && region.opener && node && node.hidden) document.getElementById(region.opener)?.click();
    }
    this.toggle.textContent = 'Free play';
    this.toggle.title = 'Leave the lesson: every control, as before';
    this.root.hidden = false;
  }

  freePlay() {
    this.renderLab(null);
    document.body.classList.remove('in-lesson');
    for (const node of document.querySelectorAll('.lesson-hidden')) node.classList.remove('lesson-hidden');
    this.toggle.textContent = 'Course';
    this.toggle.title = 'Lessons that ask you to compute, predict and train, checked by the engine';
    this.root.hidden = true;
    this.root.replaceChildren();
  }

  // ---- drawing ----
  lessonPicker(current) {
    const id = 'lesson-pick';
    const select = el('select', { id, class: 'lesson-pick' },
      ...this.course.lessons.map((l, k) => {
        const done = (this.msg && this.msg.done && this.msg.done[l.name]) || [];
        const mark = done.length === l.steps.length ? ' ✓' : '';
        return el('option', { value: l.name, selected: l.name === current }, `${k + 1}. ${l.title}${mark}`);
      }));
    select.addEventListener('change', () => this.open(select.value, 0));
    return el('label', { class: 'lesson-pick-label', for: id }, el('span', {}, 'Lesson'), select);
  }

  /** No lesson open: the list of lessons (on the first visit, with a welcome). */
  showMenu(welcome = false) {
    if (!this.course) return;
    const done = (this.msg && this.msg.done) || (readStore() || {}).done || {};
    const items = this.course.lessons.map((l, k) => {
      const n = (done[l.name] || []).length;
      const b = el('button', { type: 'button', class: 'lesson-item' },
        el('span', { class: 'lesson-item-title' }, `${k + 1}. ${l.title}`),
        el('span', { class: 'lesson-item-goal' }, l.goal),
        el('span', { class: 'lesson-item-done' }, n === l.steps.length ? 'done ✓' : `${n} of ${l.steps.length} steps done`));
      b.addEventListener('click', () => this.open(l.name, 0));
      return el('li', {}, b);
    });
    const start = el('button', { type: 'button', class: 'lesson-primary' }, 'Start lesson 1');
    start.addEventListener('click', () => this.open(this.course.lessons[0].name, 0));
    const close = el('button', { type: 'button', class: 'ghost-btn small' }, welcome ? 'Free play' : 'Close');
    close.addEventListener('click', () => {
      writeStore({ done, last: null });
      this.root.hidden = true; this.root.replaceChildren();
      if (welcome && this.hooks.onDecline) this.hooks.onDecline();   // free play: the one-minute tour
    });
    this.root.replaceChildren(
      el('h2', { class: 'lesson-title', id: 'lesson-h' }, welcome ? 'Welcome to backlit' : 'The course'),
      el('p', { class: 'lesson-goal' }, welcome
        ? 'A course in backpropagation: compute a δ and a ∂L/∂w by hand and have the engine check them, predict, '
          + 'then train networks to goals. Or look around on your own in free play.'
        : 'Pick a lesson. Your progress stays in this browser, and in Save.'),
      el('div', { class: 'lesson-actions' }, start, close),
      el('ol', { class: 'lesson-list' }, ...items));
    this.root.classList.add('lesson-menu');
    this.root.hidden = false;
    this.root.querySelector('h2').tabIndex = -1;
  }

  render(moved) {
    const lesson = this.lesson; const st = this.step; const msg = this.msg;
    const k = msg.step; const n = lesson.steps.length;
    const done = this.isDone(msg, lesson.name, k);
    const index = this.course.lessons.indexOf(lesson);

    const stepDots = el('ol', { class: 'lesson-steps', 'aria-label': 'Steps' }, ...lesson.steps.map((_, j) => {
      const d = this.isDone(msg, lesson.name, j);
      const b = el('button', {
        type: 'button', class: `lesson-dot${j === k ? ' current' : ''}${d ? ' done' : ''}`,
        'aria-label': `Step ${j + 1}${d ? ', done' : ''}`, 'aria-current': j === k ? 'step' : null,
      }, d ? '✓' : String(j + 1));
      b.addEventListener('click', () => this.open(lesson.name, j));
      return el('li', {}, b);
    }));

    const body = [
      el('p', { class: 'lesson-words' }, st.words),
      el('p', { class: 'lesson-action' }, el('strong', {}, 'Your turn: '), st.action),
    ];
    if (msg.givens && msg.givens.length) {
      body.push(el('dl', { class: 'lesson-givens', 'aria-label': 'The numbers on screen' },
        ...msg.givens.flatMap(([label, v]) => [el('dt', {}, label), el('dd', { class: 'num' }, String(v))])));
    }
    const exercise = this.exercise(st.check, msg, done);
    if (exercise) body.push(exercise);
    if (msg.progress) body.push(el('p', { class: 'lesson-progress', role: 'status' }, msg.progress));
    body.push(this.feedback(msg.feedback, done));

    const prev = el('button', { id: 'lesson-prev', type: 'button', class: 'ghost-btn small', disabled: k === 0 }, '← Previous');
    prev.addEventListener('click', () => this.open(lesson.name, k - 1));
    const last = k === n - 1;
    const nextLesson = this.course.lessons[index + 1];
    const next = el('button', { id: 'lesson-next', type: 'button', class: `lesson-next${done ? ' ready' : ''}`, disabled: last && !nextLesson },
      last ? (nextLesson ? 'Next lesson →' : 'End of the course') : 'Next step →');
    next.addEventListener('click', () => (last ? this.open(nextLesson.name, 0) : this.open(lesson.name, k + 1)));

    this.root.classList.remove('lesson-menu');
    // keyboard users keep their place: the same control after an answer, the new step's heading after a move
    const active = document.activeElement;
    const inside = this.root.contains(active);
    const keepId = inside && active.id ? active.id : null;
    this.root.replaceChildren(
      el('div', { class: 'lesson-head' }, this.lessonPicker(lesson.name)),
      el('h2', { class: 'lesson-title', id: 'lesson-h' }, lesson.title),
      el('p', { class: 'lesson-goal' }, lesson.goal),
      stepDots,
      el('section', { class: 'lesson-step', 'aria-labelledby': 'lesson-step-h', 'data-kind': st.check.kind, 'data-done': done ? 'true' : 'false' },
        el('h3', { id: 'lesson-step-h' }, `Step ${k + 1} of ${n}`, done ? el('span', { class: 'lesson-done-mark' }, ' · done ✓') : null),
        ...body),
      el('div', { class: 'lesson-nav' }, prev, next));
    const heading = this.root.querySelector('#lesson-step-h');
    heading.tabIndex = -1;
    if (inside && moved && keepId !== 'lesson-pick') heading.focus({ preventScroll: true });
    else if (keepId) document.getElementById(keepId)?.focus({ preventScroll: true });
  }

  /** The expression lab: the step's graph (values, tangents, adjoints from the engine; "?" where an
   *  answer is still asked for) and, once no answer is, a form to draw an expression of your own. */
  renderLab(msg) {
    if (this.labView) { this.labView.destroy(); this.labView = null; }
    if (!msg || !msg.graph) { if (this.lab) this.lab.hidden = true; return; }
    if (!this.lab) {
      this.lab = el('section', { class: 'col lesson-lab', 'aria-label': 'Expression lab' });
      this.root.after(this.lab);
    }
    const g = msg.graph;
    const body = el('div', { class: 'lesson-lab-graph' });
    const parts = [el('h2', { class: 'lesson-lab-title' }, 'Expression lab'), body];
    if (msg.editable) parts.push(this.labForm(g));
    this.lab.replaceChildren(...parts);
    this.lab.hidden = false;
    this.labView = drawExpressionGraph(body, g, { mode: this.labMode, onModeChange: (m) => { this.labMode = m; } });
  }

  labForm(g) {
    const text = el('input', { id: 'lab-text', type: 'text', class: 'lesson-input', value: g.source, spellcheck: false, autocomplete: 'off' });
    const values = el('input', { id: 'lab-values', type: 'text', class: 'lesson-input', spellcheck: false, autocomplete: 'off',
      value: g.inputs.map((v) => `${v} = ${g.values[v]}`).join(', ') });
    const local = el('p', { class: 'lesson-local', role: 'alert' });
    const form = el('form', { class: 'lesson-form lesson-lab-form', novalidate: true },
      el('label', { for: 'lab-text', class: 'lesson-prompt' }, 'Expression'), text,
      el('label', { for: 'lab-values', class: 'lesson-prompt' }, 'Values (name = number, separated by commas)'), values,
      el('div', { class: 'lesson-row' }, el('button', { type: 'submit', class: 'lesson-check' }, 'Draw')), local);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const given = {};
      for (const pair of values.value.split(/[,;]/).map((p) => p.trim()).filter(Boolean)) {
        const m = /^([^=\s]+)\s*=\s*(.+)$/.exec(pair);
        const v = m ? parseNumber(m[2]) : NaN;
        if (!m || Number.isNaN(v)) { local.textContent = `"${pair}": write each value as name = number, e.g. x = 1.5`; return; }
        given[m[1]] = v;
      }
      local.textContent = '';
      this.hooks.send('lesson_expr', { text: text.value, values: given });
    });
    return form;
  }

  exercise(check, msg, done) {
    if (!(check.kind in ANSWERED)) return null;
    const form = el('form', { class: 'lesson-form', novalidate: true });
    let read;
    if (check.kind === 'number') {
      const input = el('input', { id: 'lesson-answer', type: 'text', inputMode: 'decimal', autocomplete: 'off', class: 'lesson-input', spellcheck: false });
      if (this.sent !== null && typeof this.sent === 'number') input.value = String(this.sent);
      form.append(el('label', { for: 'lesson-answer', class: 'lesson-prompt' }, check.prompt),
        el('div', { class: 'lesson-row' }, el('span', { class: 'lesson-symbol', 'aria-hidden': 'true' }, `${check.symbol} =`), input));
      read = () => parseNumber(input.value);
    } else {
      const choices = check.kind === 'choice' ? check.options.map((text, i) => [i, text]) : (msg.options || []);
      const type = check.kind === 'choice' ? 'radio' : 'checkbox';
      const boxes = choices.map(([value, text], i) => {
        const id = `lesson-opt-${i}`;
        const checked = check.kind === 'choice' ? this.sent === value : Array.isArray(this.sent) && this.sent.includes(value);
        const input = el('input', { id, type, name: 'lesson-opt', value: String(value), checked });
        return el('label', { class: 'lesson-option', for: id }, input, el('span', {}, text));
      });
      form.append(el('fieldset', { class: 'lesson-fieldset' }, el('legend', { class: 'lesson-prompt' }, check.prompt), ...boxes));
      read = () => {
        const picked = [...form.querySelectorAll('input[name="lesson-opt"]:checked')].map((b) => b.value);
        if (check.kind === 'choice') return picked.length ? Number(picked[0]) : NaN;
        return picked;
      };
    }
    const submit = el('button', { id: 'lesson-check', type: 'submit', class: 'lesson-check' }, done ? 'Check again' : 'Check');
    const local = el('p', { class: 'lesson-local', role: 'alert' });
    form.append(el('div', { class: 'lesson-row' }, submit), local);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const answer = read();
      if (typeof answer === 'number' && Number.isNaN(answer)) {
        local.textContent = check.kind === 'number' ? 'Type a number, e.g. 0.25 or -1.3e-2.' : 'Pick one of the choices.';
        return;
      }
      local.textContent = '';
      this.sent = answer;
      this.hooks.send('lesson_answer', { answer });
    });
    return form;
  }

  feedback(fb, done) {
    const box = el('div', { class: 'lesson-feedback', role: 'status', 'aria-live': 'polite' });
    if (!fb) {
      if (done && this.step.check.kind !== 'number') box.append(el('p', { class: 'lesson-ok' }, 'Done ✓'));
      else if (done) box.append(el('p', { class: 'lesson-ok' }, 'Done ✓'));
      return box;
    }
    box.dataset.correct = fb.correct ? 'true' : 'false';
    box.append(el('p', { class: fb.correct ? 'lesson-ok' : 'lesson-wrong' }, fb.message));
    if (fb.mistake) box.append(el('p', { class: 'lesson-mistake' }, el('strong', {}, 'Likely mistake: '), fb.mistake));
    if (fb.hint) box.append(el('p', { class: 'lesson-hint' }, el('strong', {}, 'Hint: '), fb.hint));
    if (fb.worked) box.append(el('p', { class: 'lesson-worked' }, el('strong', {}, fb.correct ? 'Worked: ' : 'Worked line: '), el('span', { class: 'num' }, fb.worked)));
    return box;
  }
}
