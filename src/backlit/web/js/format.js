// Number formatting for display. Full precision always goes into a data-raw attribute.

export function fmt(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (typeof v !== 'number') return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-4) return v.toExponential(digits - 1).replace('e', 'e');
  return Number(v.toPrecision(digits)).toString();
}

/** Put a number in an element: short text, full precision in data-raw. */
export function setNum(el, v, digits = 4) {
  if (!el) return;
  const text = fmt(v, digits);
  if (el.textContent !== text) el.textContent = text;
  const raw = v === null || v === undefined ? '' : String(v);
  if (el.dataset.raw !== raw) el.dataset.raw = raw;
}

export function fmtDuration(us) {
  if (us === null || us === undefined || !Number.isFinite(us)) return '–';
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1e6) return `${(us / 1000).toPrecision(3)} ms`;
  return `${(us / 1e6).toPrecision(3)} s`;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'for' || k === 'title') node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  return node;
}

/** Show a tooltip near the pointer, inside `box` (flips left/up near the right/bottom edges). */
export function placeTip(tip, box, ev) {
  tip.hidden = false;
  const r = box.getBoundingClientRect();
  const x = ev.clientX - r.left; const y = ev.clientY - r.top;
  const w = tip.offsetWidth; const h = tip.offsetHeight;
  const left = x + 14 + w > r.width ? Math.max(0, x - 14 - w) : x + 14;
  const top = y + 14 + h > r.height ? Math.max(0, y - 14 - h) : y + 14;
  tip.style.left = `${left}px`;
  tip.style.top = `${top}px`;
}

/**
 * Size a canvas's backing store to its CSS box times the device pixel ratio.
 * Returns the ratio, and whether the size changed (so the caller knows to redraw).
 */
export function fitCanvas(canvas) {
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(r.width * dpr));
  const h = Math.max(1, Math.round(r.height * dpr));
  const changed = canvas.width !== w || canvas.height !== h;
  if (changed) { canvas.width = w; canvas.height = h; }
  return { dpr, changed };
}
