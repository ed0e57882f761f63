// Keyboard: Space train/pause, → step, F forward, B backward, N next sample, Esc close the inspector.
// Keys are ignored while typing in a text field or a select. On a checkbox or slider the letters still
// work (Space and the arrows keep their own meaning there), and Space on a focused button presses it.

const TEXT_TYPES = new Set(['text', 'number', 'search', 'email', 'url', 'password', 'tel', 'file']);

export function bindKeys(actions) {
  document.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat && ev.key !== 'ArrowRight') return;
    const t = ev.target;
    if (!(t instanceof Element)) return;
    const tag = t.tagName;
    const typing = (t instanceof HTMLElement && t.isContentEditable) || tag === 'TEXTAREA' || tag === 'SELECT'
      || (tag === 'INPUT' && TEXT_TYPES.has((t.getAttribute('type') || 'text').toLowerCase()));
    if (typing) return;
    const control = tag === 'INPUT';                 // checkbox, range: Space is theirs
    const slider = control && ['range', 'radio'].includes(t.getAttribute('type'));   // and a slider's or radio group's arrows
    const onButton = tag === 'BUTTON' || t.getAttribute('role') === 'button';
    switch (ev.key) {
      case ' ':
        if (onButton || control) return;
        ev.preventDefault(); actions.togglePlay(); break;
      case 'ArrowRight':
        if (slider) return;
        ev.preventDefault(); actions.step(); break;
      case 'f': case 'F': actions.forward(); break;
      case 'b': case 'B': actions.backward(); break;
      case 'n': case 'N': actions.next(); break;
      case 'Escape': actions.escape(); break;
      default: break;
    }
  });
}
