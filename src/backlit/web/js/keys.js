// Keyboard: Space train/pause, → step, F forward, B backward, N next sample, Esc close the inspector.
// Keys are ignored while typing in a field, and Space on a focused button presses that button.

export function bindKeys(actions) {
  document.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    const typing = t instanceof HTMLElement && (t.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(t.tagName));
    if (typing) return;
    const onButton = t instanceof Element && (t.tagName === 'BUTTON' || t.getAttribute('role') === 'button');
    switch (ev.key) {
      case ' ':
        if (onButton) return;
        ev.preventDefault(); actions.togglePlay(); break;
      case 'ArrowRight': ev.preventDefault(); actions.step(); break;
      case 'f': case 'F': actions.forward(); break;
      case 'b': case 'B': actions.backward(); break;
      case 'n': case 'N': actions.next(); break;
      case 'Escape': actions.escape(); break;
      default: break;
    }
  });
}
