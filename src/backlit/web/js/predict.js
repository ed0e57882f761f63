// Predict, then reveal: before Backward the learner marks links ▲ (increase) or ▼ (decrease);
// Backward then grades the guesses against the signs of the engine's own ∂L/∂w. While it is on,
// nothing on the page shows a gradient's sign before Backward has run (network.setPredicting).
//
//   const predict = new Predict({ checkbox, status, network, onToggle });
//   predict.on          // the checkbox is ticked
//   predict.toggle(l, i, j)   // a link clicked: no guess -> increase -> decrease -> no guess
//   predict.grade(trace)      // after Backward: "k of n right"

export class Predict {
  constructor({ checkbox, status, network, onToggle }) {
    this.checkbox = checkbox;
    this.status = status;
    this.network = network;
    this.guesses = new Map();     // 'l,i,j' -> 'increase' | 'decrease'
    checkbox.addEventListener('change', () => {
      this.guesses.clear();
      network.setGuesses(this.guesses);
      network.setPredicting(this.on);
      this.say(this.on ? 'Click links to guess which way the loss wants each weight to move (▲ increase, ▼ decrease), then press Backward.' : '');
      if (onToggle) onToggle(this.on);
    });
  }

  get on() { return this.checkbox.checked; }

  toggle(l, i, j) {
    const key = `${l},${i},${j}`;
    const next = { undefined: 'increase', increase: 'decrease', decrease: undefined }[this.guesses.get(key)];
    if (next) this.guesses.set(key, next); else this.guesses.delete(key);
    const net = this.network;
    net.setGuesses(this.guesses);
    if (net.phase === 'backward-done') net.setView({ phase: 'forward-done', fwdCol: net.nCols - 1, bwdCol: Infinity });
    const n = this.guesses.size;
    this.say(`${n} guess${n === 1 ? '' : 'es'} marked: click a link again to flip it, then press Backward to reveal.`);
  }

  grade(t) {
    if (!this.guesses.size || !t || !t.layers) return;
    let right = 0;
    for (const [key, guess] of this.guesses) {
      const [l, i, j] = key.split(',').map(Number);
      if ((t.layers[l].grad_W[i][j] < 0 ? 'increase' : 'decrease') === guess) right += 1;
    }
    this.status.dataset.right = String(right);
    this.status.dataset.total = String(this.guesses.size);
    this.say(`${right} of ${this.guesses.size} right. ✓ and ✗ mark your guesses; the colours are the true signs of ∂L/∂w.`);
  }

  say(text) { this.status.hidden = !text; this.status.textContent = text || ''; }
}
