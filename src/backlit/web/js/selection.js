// The selected sample and its trace, as one explicit state machine (instead of loose flags):
//
//   empty ──select──▶ selecting ──trace──▶ current ──weights change──▶ stale ──refresh──▶ refreshing
//     ▲                   │                   ▲                          │                  │
//     └──── error ────────┘                   └──────────── trace ───────┴──────────────────┘
//
// `current` is the only state in which the trace matches the weights on screen. `whenCurrent(fn)` runs
// fn with that trace, now or as soon as it arrives (asking the server for it if nobody has).

export class Selection {
  constructor(send) {
    this.send = send;        // (type, payload) -> message id, or null when not connected
    this.state = 'empty';
    this.index = null;       // index of the selected training sample
    this.trace = null;       // the last trace received (current or stale)
    this.waiters = [];
  }

  get current() { return this.state === 'current' ? this.trace : null; }

  /** Ask for sample `index`; its selection and trace follow. */
  select(index) {
    if (this.send('select', { index }) !== null) this.state = 'selecting';
  }

  /** The server picked a sample (select, select_point or next_sample): its trace is on the way. */
  selected(index) {
    this.index = index;
    if (this.nextWanted && this.nextIndex === undefined) this.nextIndex = index;
    if (this.state !== 'selecting') this.state = 'selecting';
  }

  /**
   * Ask the server for the next sample and run fn(trace) with that sample's own trace: not with a
   * trace of the sample before it that may still be on its way.
   */
  next(fn) {
    this.waiters = [];
    this.nextWanted = fn;
    this.nextIndex = undefined;
    if (this.send('next_sample') !== null) this.state = 'selecting'; else this.nextWanted = null;
  }

  /** New data: the old index now names another point. */
  reset() {
    this.state = 'empty'; this.index = null; this.trace = null;
    this.waiters = []; this.nextWanted = null;
  }

  /** The weights changed (a frame, an edit, an update): the trace no longer matches them. */
  invalidate() {
    if (this.state === 'current') this.state = 'stale';
  }

  /** Ask for a fresh trace of the selected sample, unless one is already on its way. */
  refresh() {
    if (this.state === 'stale' && this.send('trace') !== null) this.state = 'refreshing';
  }

  received(trace) {
    this.trace = trace;
    this.index = trace.index ?? this.index;
    this.state = 'current';
    const waiting = this.waiters;
    this.waiters = [];
    if (this.nextWanted && this.nextIndex !== undefined && trace.index === this.nextIndex) {
      waiting.push(this.nextWanted);
      this.nextWanted = null;
    }
    for (const fn of waiting) fn(trace);
  }

  /** An error reply: whatever was in flight will not come. */
  failed() {
    this.waiters = []; this.nextWanted = null;
    if (this.state === 'selecting') this.state = this.trace ? 'stale' : 'empty';
    if (this.state === 'refreshing') this.state = 'stale';
  }

  /** Run fn(trace) once a current trace exists: select a sample first when none is. */
  whenCurrent(fn, fallbackIndex) {
    if (this.state === 'current') { fn(this.trace); return; }
    this.waiters.push(fn);
    if (this.state === 'selecting' || this.state === 'refreshing') return;
    if (this.state === 'stale') this.refresh();
    else if (Number.isInteger(fallbackIndex)) this.select(fallbackIndex);
    else if (this.send('next_sample') !== null) this.state = 'selecting';
  }
}
