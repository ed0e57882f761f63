// The Edit-data panel: points by hand (click, shift-click or a long press on the plane, or two number
// inputs for the keyboard), Clear, a CSV in (upload or paste) and out, the list of a bad CSV's rows
// with the offer to rescale, and the notice that custom points are not in the link.
// The server owns the data: every action here is one message, and the plane redraws from its replies.

import { el } from './format.js';
import { classColor } from './colors.js';

const MAX_CSV_BYTES = 250 * 1024;   // the server takes messages up to 256 KiB, the envelope included
const SHOWN_PROBLEMS = 100;

let uid = 0;

export class DataEditor {
  /**
   * root: the panel's container. plane: the Plane (setEditHandler). send(type, payload, onReply): the
   * page's sender, with {onOk, onError} for the reply. save(): the Save action. flash(text, kind, ms).
   */
  constructor(root, { plane, send, save, flash }) {
    this.root = root;
    this.plane = plane;
    this.send = send;
    this.flash = flash || (() => {});
    this.editing = false;
    this.kind = null;
    this.classes = 0;
    this.label = 0;
    this.counts = { train: 0, test: 0 };
    this.custom = false;
    this.lastCsv = null;           // {text, name}: what to resend with rescale
    const id = (s) => `de-${s}-${++uid}`;

    // the notice: custom points live in this session only
    this.notice = el('div', { class: 'de-notice', hidden: true },
      el('span', {}, 'Custom data: the link does not include these points — use Save to keep them'),
      el('button', { type: 'button', class: 'ghost-btn small', onclick: () => save() }, 'Save'));

    // edit mode
    const toolsId = id('tools');
    this.toggle = el('button', {
      type: 'button', class: 'ghost-btn small de-toggle', 'aria-pressed': 'false', 'aria-controls': toolsId,
      title: 'Click the plane to add points of your own; shift-click or long-press removes one',
    }, 'Edit data');
    this.toggle.addEventListener('click', () => this.setEditing(!this.editing));

    this.picker = el('div', { class: 'de-classes', role: 'radiogroup', 'aria-label': 'Class of new points' });
    // the arrows move between the radios here; the page's → shortcut (train one step) must not fire
    this.picker.addEventListener('keydown', (ev) => { if (ev.key.startsWith('Arrow')) ev.stopPropagation(); });
    this.valueInput = el('input', { type: 'number', step: '0.1', min: '-1000', max: '1000', value: '1', id: id('value') });
    this.valueField = el('label', { class: 'de-value', hidden: true, for: this.valueInput.id },
      el('span', {}, 'Value of new points'), this.valueInput);

    const x1 = el('input', { type: 'number', step: '0.1', value: '0', id: id('x1'), required: true, 'aria-label': 'x₁ of the point (horizontal)' });
    const x2 = el('input', { type: 'number', step: '0.1', value: '0', id: id('x2'), required: true, 'aria-label': 'x₂ of the point (vertical)' });
    this.atX = x1; this.atY = x2;
    const at = el('form', { class: 'de-at', 'aria-label': 'Add a point at coordinates' },
      el('span', { class: 'de-at-title' }, 'Or at a position:'),
      el('label', { for: x1.id }, 'x₁'), x1,
      el('label', { for: x2.id }, 'x₂'), x2,
      el('div', { class: 'de-at-buttons' },
        el('button', { type: 'submit', class: 'ghost-btn small' }, 'Add'),
        el('button', { type: 'button', class: 'ghost-btn small', onclick: () => { if (at.reportValidity()) this.remove(Number(x1.value), Number(x2.value)); } }, 'Remove nearest')));
    at.addEventListener('submit', (ev) => { ev.preventDefault(); this.add(Number(x1.value), Number(x2.value)); });

    this.clearBtn = el('button', { type: 'button', class: 'ghost-btn small de-clear', onclick: () => this.clear() }, 'Clear all points');
    this.msg = el('p', { class: 'de-msg', role: 'status', 'aria-live': 'polite' });
    this.tools = el('div', { id: toolsId, class: 'de-tools', hidden: true },
      this.picker, this.valueField,
      el('p', { class: 'de-hint' }, 'Click the plane to add a point (it becomes the selected sample). ',
        el('kbd', {}, 'Shift'), '-click, or a long press, removes the nearest.'),
      at, this.clearBtn);

    // CSV in and out
    this.file = el('input', { type: 'file', accept: '.csv,text/csv', hidden: true, 'aria-label': 'CSV file of points' });
    this.file.addEventListener('change', () => { const f = this.file.files[0]; this.file.value = ''; if (f) this.readFile(f); });
    const csv = el('div', { class: 'de-csv', role: 'group', 'aria-label': 'The data as CSV' },
      el('button', { type: 'button', class: 'ghost-btn small', title: 'Load points from a CSV file: x1,x2,label per line (x1,x2,y for regression)', onclick: () => this.file.click() }, 'Upload CSV…'),
      el('button', { type: 'button', class: 'ghost-btn small', title: 'Paste CSV text', onclick: () => this.openPaste() }, 'Paste CSV…'),
      el('button', { type: 'button', class: 'ghost-btn small', title: 'Download every point (training and test) as x1,x2,label', onclick: () => this.send('export', { format: 'csv' }) }, 'Download data (.csv)'),
      this.file);

    this.errors = el('div', { class: 'de-errors', role: 'alert' });

    // the paste dialog
    const titleId = id('paste-title');
    this.pasteText = el('textarea', { rows: 10, spellcheck: false, 'aria-label': 'CSV text', placeholder: 'x1,x2,label\n1.5,-2,0\n-3,0.25,1' });
    this.pasteHint = el('p', { class: 'muted' });
    this.dialog = el('dialog', { class: 'de-dialog', 'aria-labelledby': titleId },
      el('form', { method: 'dialog' },
        el('h3', { id: titleId }, 'Paste CSV'),
        this.pasteHint, this.pasteText,
        el('div', { class: 'de-dialog-buttons' },
          el('button', { type: 'submit', value: 'cancel', class: 'ghost-btn small' }, 'Cancel'),
          el('button', { type: 'submit', value: 'load', class: 'ghost-btn small de-primary' }, 'Load these points'))));
    this.dialog.addEventListener('close', () => {
      if (this.dialog.returnValue === 'load' && this.pasteText.value.trim()) this.loadCsv(this.pasteText.value, 'the pasted CSV');
    });

    root.replaceChildren(
      el('h3', { class: 'de-title' }, 'Your own data'),
      this.notice,
      el('div', { class: 'de-row' }, this.toggle),
      this.tools, this.msg, csv, this.errors, this.dialog);
  }

  // ---- from the server -----------------------------------------------------------------------------
  onState(s) {
    this.custom = !!s.custom_data;
    this.notice.hidden = !this.custom;
    this.setKind(s.kind, s.classes);
    if (Number.isInteger(s.n_train)) this.counts = { train: s.n_train, test: s.n_test || 0 };
  }

  /** Returns true when the server's selection of a new point follows these points. */
  onPoints(p) {
    const follows = !!this.addPending;
    this.addPending = false;
    this.counts = { train: p.train.length, test: p.test.length };
    this.setKind(p.kind, p.classes);
    return follows;
  }

  setKind(kind, classes) {
    if (!kind || (kind === this.kind && classes === this.classes)) return;
    this.kind = kind; this.classes = classes;
    const regression = kind === 'regression';
    this.valueField.hidden = !regression;
    this.picker.hidden = regression;
    if (regression) { this.picker.replaceChildren(); return; }
    const n = Math.max(2, classes || 2);
    if (this.label >= n) this.label = 0;
    const name = `de-class-${++uid}`;
    this.picker.replaceChildren(el('span', { class: 'de-classes-title', 'aria-hidden': 'true' }, 'New points:'),
      ...Array.from({ length: n }, (_, k) => {
        const input = el('input', { type: 'radio', name, value: String(k), checked: k === this.label });
        input.addEventListener('change', () => { if (input.checked) this.label = k; });
        const sw = el('span', { class: 'de-swatch', 'aria-hidden': 'true' });
        sw.style.background = classColor(k);
        return el('label', { class: 'de-class' }, input, sw, `class ${k}`);
      }));
  }

  /**
   * True while the replies to add_point arrive: their state and points still name the old selected
   * index, and the server's own selection of the new point follows them, so the page must not ask
   * for the old one again. Cleared by that points message (or an error).
   */
  get adding() { return this.addPending; }

  // ---- points by hand ------------------------------------------------------------------------------
  setEditing(on) {
    this.editing = on;
    this.toggle.setAttribute('aria-pressed', String(on));
    this.toggle.textContent = on ? 'Done editing' : 'Edit data';
    this.tools.hidden = !on;
    this.plane.setEditHandler(on ? (x, y, { remove }) => (remove ? this.remove(x, y) : this.add(x, y)) : null);
    this.say(on ? 'Editing: clicks on the plane add points.' : '');
  }

  newLabel() {
    if (this.kind !== 'regression') return this.label;
    const v = Number(this.valueInput.value);
    return Number.isFinite(v) ? v : 0;
  }

  add(x, y) {
    const r = (v) => Math.round(v * 1000) / 1000;
    const label = this.newLabel();
    const what = this.kind === 'regression' ? `value ${label}` : `class ${label}`;
    const sent = this.send('add_point', { x: r(x), y: r(y), label }, {
      onOk: () => this.say(`Added a point of ${what} at (${r(x)}, ${r(y)}); it is the selected sample.`),
      onError: (m) => { this.addPending = false; this.say(m.message || 'the point was not added', 'error'); },
    });
    if (sent !== null && sent !== undefined) this.addPending = true;
  }

  remove(x, y) {
    this.send('remove_point', { x, y }, {
      onOk: () => this.say('Removed the nearest point.'),
      onError: (m) => this.say(m.message || 'no point was removed', 'error'),
    });
  }

  clear() {
    const { train, test } = this.counts;
    const lost = this.custom ? ' Your own points are lost unless you Save first.' : ' Regenerate brings a generated dataset back.';
    const ok = window.confirm(`Clear the plane? This removes all ${train + test} points (${train} training, ${test} test) `
      + `and starts the network again.${lost}`);
    if (!ok) return;
    this.send('clear_points', {}, { onOk: () => this.say('The plane is empty: click to add points.') });
  }

  say(text, kind = 'info') {
    this.msg.textContent = text || '';
    this.msg.dataset.kind = kind;
  }

  // ---- CSV -----------------------------------------------------------------------------------------
  openPaste() {
    this.pasteHint.textContent = this.kind === 'regression'
      ? 'One point per line: x1,x2,y. A header row is fine.'
      : 'One point per line: x1,x2,label (labels 0, 1, …). A header row is fine.';
    this.dialog.showModal();
    this.pasteText.focus();
  }

  async readFile(file) {
    if (file.size > MAX_CSV_BYTES) {
      this.showErrors({ message: `${file.name} is larger than 250 KiB, the most the server takes in one message`, problems: [] }, file.name);
      return;
    }
    this.loadCsv(await file.text(), file.name);
  }

  loadCsv(text, name, rescale = false) {
    if (new Blob([text]).size > MAX_CSV_BYTES) {
      this.showErrors({ message: `${name} is larger than 250 KiB, the most the server takes in one message`, problems: [] }, name);
      return;
    }
    this.lastCsv = { text, name };
    this.send('load_csv', rescale ? { text, rescale: true } : { text }, {
      onOk: (m) => {
        this.clearErrors();
        const train = m && Number.isInteger(m.n_train) ? m.n_train : this.counts.train;
        const test = m && Number.isInteger(m.n_test) ? m.n_test : this.counts.test;
        this.say(`Loaded ${name}${rescale ? ', rescaled into the plane' : ''}: ${train} training points and ${test} test points. `
          + 'A file is split by the "Ratio of training to test data" slider; points you click on the plane all go to training.');
        this.flash(`loaded ${name}`, 'info', 3000);
      },
      onError: (m) => this.showErrors(m, name),
    });
  }

  clearErrors() { this.errors.replaceChildren(); }

  /** The reply to a bad CSV: every bad row by line, and the rescale offer when that is all it takes. */
  showErrors(m, name) {
    const problems = Array.isArray(m.problems) ? m.problems : [];
    const rows = problems.filter((p) => p.line !== null && p.line !== undefined).length;
    const head = rows
      ? `Nothing was loaded from ${name}: ${rows} bad row${rows === 1 ? '' : 's'}.`
      : `Nothing was loaded from ${name}: ${(m.message || 'it was rejected').split('\n')[0].replace(/:$/, '')}.`;
    const list = el('ul', { class: 'de-err-list' }, problems.slice(0, SHOWN_PROBLEMS).map((p) => el('li', {},
      p.line !== null && p.line !== undefined ? el('span', { class: 'de-line' }, `line ${p.line}`) : null,
      ' ', p.message)));
    const more = problems.length > SHOWN_PROBLEMS ? el('p', {}, `… and ${problems.length - SHOWN_PROBLEMS} more.`) : null;
    const offer = m.rescalable && this.lastCsv
      ? el('div', { class: 'de-rescale' },
        el('span', {}, 'Only points outside the plane are wrong: scale them all in?'),
        el('button', { type: 'button', class: 'ghost-btn small de-primary', onclick: () => this.loadCsv(this.lastCsv.text, this.lastCsv.name, true) }, 'Rescale into the plane'))
      : null;
    this.errors.replaceChildren(...[
      el('div', { class: 'de-err-head' }, el('strong', {}, head),
        el('button', { type: 'button', class: 'de-dismiss', 'aria-label': 'Dismiss the CSV errors', onclick: () => this.clearErrors() }, '×')),
      problems.length ? list : null, more, offer].filter(Boolean));
  }
}
