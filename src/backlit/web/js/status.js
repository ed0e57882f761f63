// The status line: connection state, divergence, and short-lived messages (errors, saved files).

export class StatusLine {
  constructor(el) {
    this.el = el;
    this.connection = { kind: 'connecting', text: 'connecting…' };
    this.transient = null;
    this.timer = null;
    this.session = { diverged: false, text: 'ready' };
  }

  setConnection(kind, text) { this.connection = { kind, text }; this.render(); }

  /** What the session is doing, shown while connected: {diverged, text}. */
  setSession(session) { this.session = session; this.render(); }

  flash(text, kind = 'error', ms = 7000) {
    this.transient = { kind, text };
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.transient = null; this.render(); }, ms);
    this.render();
  }

  /** Drop a short-lived message (the user moved on: training, stepping, a new action). */
  clearFlash() {
    if (!this.transient) return;
    clearTimeout(this.timer);
    this.transient = null;
    this.render();
  }

  render() {
    let { kind, text } = this.connection;
    if (kind === 'connected') {
      if (this.session.diverged) { kind = 'diverged'; text = 'diverged: lower the learning rate or reset'; }
      else if (this.transient) ({ kind, text } = this.transient);
      else text = `connected · ${this.session.text}`;
    }
    if (this.el.dataset.kind !== kind) this.el.dataset.kind = kind;
    if (this.el.textContent !== text) this.el.textContent = text;
  }
}
