// Forward / Backward animation: walks the network view's columns left to right, then right to left.
// Progress is visible in the DOM: #network[data-phase], [data-forward-layer], [data-backward-layer].

export class Stepper {
  constructor(network, { speed, skip }) {
    this.network = network;
    this.speed = speed;
    this.skip = skip;
    this.timer = null;
    this.token = 0;
  }

  delay() {
    if (this.skip()) return 0;
    const s = Math.max(1, Math.min(10, this.speed() || 5));
    return 1800 / (s + 1);              // speed 1: 900 ms per column, 5: 300 ms, 10: 164 ms
  }

  cancel() {
    this.token += 1;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Run steps[k]() one after another, `delay` apart; a later cancel() stops the chain. */
  run(steps, done) {
    const token = ++this.token;
    let k = 0;
    const tick = () => {
      if (token !== this.token) return;
      if (k < steps.length) {
        steps[k++]();
        const d = this.delay();
        if (d === 0) tick(); else this.timer = setTimeout(tick, d);
      } else if (done) done();
    };
    tick();
  }

  forward(trace, then) {
    const net = this.network;
    net.setSample(trace);
    const n = net.nCols;
    const steps = [];
    for (let c = 0; c < n; c++) steps.push(() => net.setView({ phase: 'forward', fwdCol: c, bwdCol: Infinity }));
    steps.push(() => net.setView({ phase: 'forward-done', fwdCol: n - 1, bwdCol: Infinity }));
    this.run(steps, then);
  }

  backward(trace, then) {
    const net = this.network;
    net.setSample(trace);
    const n = net.nCols;
    const steps = [];
    for (let c = n - 1; c >= 0; c--) steps.push(() => net.setView({ phase: 'backward', fwdCol: n - 1, bwdCol: c }));
    steps.push(() => net.setView({ phase: 'backward-done', fwdCol: n - 1, bwdCol: 0 }));
    this.run(steps, then);
  }
}
