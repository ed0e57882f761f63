// The explanation panel: what forward, loss, backward, ∂L/∂w and δ mean, tied to what is lit.

export class LearnPanel {
  constructor(root, toggle) {
    this.root = root;
    this.toggle = toggle;
  }

  onState() {}

  onTrace() {}

  onCode() {}
}
