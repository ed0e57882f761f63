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

// Controls that only work with a server. Purely local ones (animation speed, skip animation, the
// palette, predict-then-reveal) stay live.
const NEEDS_SERVER = [
  '.transport button', '#save', '#load', '#export', '[data-setting]', '#show-test', '#discretize', '#show-saliency',
  '.layout button', '#copy-link',
].join(', ');
const LOCAL = new Set(['anim-speed', 'skip-animation', 'cb-palette', 'predict-mode', 'show-graph']);

/**
 * The lost-connection banner (role=alert): what happened, what is kept, and "Retry now". While it
 * shows, the controls that need the server are disabled; they get back exactly the state they had.
 */
export class ConnectionBanner {
  constructor(el, { onRetry }) {
    this.el = el;
    this.offline = false;
    this.title = document.createElement('strong');
    this.detail = document.createElement('span');
    this.button = document.createElement('button');
    this.button.type = 'button';
    this.button.id = 'offline-retry';
    this.button.className = 'ghost-btn small';
    this.button.textContent = 'Retry now';
    this.button.addEventListener('click', () => { this.detail.textContent = 'retrying…'; onRetry(); });
    el.replaceChildren(this.title, this.detail, this.button);
    el.hidden = true;
  }

  /** kind: connecting | connected | reconnecting | error (the socket's status), info: {attempt, full}. */
  update(kind, info = {}) {
    const down = kind !== 'connected';
    if (!down) { this.hide(); return; }
    if (!info.attempt) return;                 // the first connection is still being made
    const title = info.full ? 'The server is full.'
      : kind === 'connecting' ? 'Cannot reach the backlit server.' : 'Lost the connection to the server.';
    const detail = info.full ? ' Too many sessions are open; retrying by itself.'
      : ` Training is paused and the controls are off until it is back; your network and settings are kept and will be restored. Retrying by itself (attempt ${info.attempt}).`;
    if (this.title.textContent !== title) this.title.textContent = title;
    this.detail.textContent = detail;
    this.show();
  }

  show() {
    if (this.offline) return;
    this.offline = true;
    this.el.hidden = false;
    document.body.classList.add('offline');
    const focused = document.activeElement;
    for (const c of document.querySelectorAll(NEEDS_SERVER)) {
      if (LOCAL.has(c.id) || c.disabled || c.closest('#offline-banner')) continue;
      c.disabled = true;
      c.dataset.offline = '1';
    }
    // a control that lost focus by being disabled hands it to the banner, never to the page body
    if (focused && focused !== document.body && focused.disabled) this.button.focus();
  }

  hide() {
    if (!this.offline) return;
    this.offline = false;
    this.el.hidden = true;
    document.body.classList.remove('offline');
    for (const c of document.querySelectorAll('[data-offline]')) { c.disabled = false; delete c.dataset.offline; }
  }
}
