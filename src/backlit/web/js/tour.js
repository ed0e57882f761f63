// The guided first minute: Forward -> Backward -> Train -> Next sample.

export class Tour {
  constructor(root, startButton) {
    this.root = root;
    this.startButton = startButton;
  }

  maybeStart() {}
}
