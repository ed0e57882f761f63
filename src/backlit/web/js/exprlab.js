// The expression lab's graph: draws a dict from backlit.lab.expr.expression_graph (its module
// docstring gives the shape) as an SVG computational graph, Olah's e = (a+b)(b+1) picture.
//
// Python parses, evaluates, differentiates and lays out; this module only places boxes and writes
// words. Every node shows its value and, by the view chosen, either its forward-mode tangent
// ∂node/∂wrt or its reverse-mode adjoint ∂output/∂node; every edge shows its local derivative.
// Focusing or clicking a node writes its chain-rule sum with the real numbers below the graph.
// A number the graph leaves out (null: expression_graph(..., hide=...), an answer not yet given)
// shows as "?".
//
//   import { drawExpressionGraph } from './exprlab.js';
//   const lab = drawExpressionGraph(element, graph, { mode: 'forward', onModeChange: (m) => ... });
//   lab.setMode('reverse'); lab.select(nodeId); lab.destroy();
//
// Keyboard: Tab reaches the view toggle and every node; on a node, ↑ goes to a consumer, ↓ to an
// operand, ← → along its row, Enter or Space pins its sum, Escape clears it. Needs exprlab.css (el-*).

import { el, fmt, svg } from './format.js';

const NODE_W = 128;
const NODE_H = 64;
const GAP_X = 36;
const GAP_Y = 58;
const PAD = 14;
const MODES = ['forward', 'reverse'];
let instances = 0;

/** A number as shown: "?" for one the page has not been sent yet (null, hidden until answered). */
function say(v) {
  return v === null || v === undefined ? '?' : fmt(v);
}

function raw(v) {
  return v === null || v === undefined ? '' : String(v);
}

function num(tag, attrs, v) {
  const node = svg(tag, { ...attrs, 'data-raw': raw(v) });
  node.textContent = say(v);
  return node;
}

/** What the node shows in a mode: its derivative's name and value. */
function derivative(graph, node, mode) {
  const out = graph.nodes[graph.output].name;
  return mode === 'forward'
    ? { name: `∂${node.name}/∂${graph.wrt}`, value: node.tangent }
    : { name: `∂${out}/∂${node.name}`, value: node.adjoint };
}

/** Squeeze a line into the box when it is longer than the box is wide (long names, long numbers). */
function fit(text, px) {
  if (text.textContent.length * px > NODE_W - 16) {
    text.setAttribute('textLength', NODE_W - 16);
    text.setAttribute('lengthAdjust', 'spacingAndGlyphs');
  } else {
    text.removeAttribute('textLength');
  }
}

/** A factor in a product: negative numbers in parentheses, 0.5·(-1.5). */
function factor(v) {
  return v !== null && v < 0 ? `(${fmt(v)})` : say(v);
}

function title(node) {
  return node.kind === 'op' ? `${node.name} = ${node.formula}` : node.name;
}

/** The edge's label: its formula and value ("d = 2"), or just the value when the formula is it. */
function partialText(edge) {
  const v = say(edge.partial);
  return edge.formula === v || edge.formula.replace('−', '-') === v ? v : `${edge.formula} = ${v}`;
}

export function drawExpressionGraph(container, graph, { mode = 'forward', onModeChange = null } = {}) {
  const uid = `el${++instances}`;
  const nodes = graph.nodes;
  const drawnNodes = nodes.filter((n) => n.drawn);
  const drawnEdges = graph.edges.filter((e) => e.drawn);
  const outName = nodes[graph.output].name;
  let current = MODES.includes(mode) ? mode : 'forward';
  let pinned = null;

  // ---- layout: rows and columns from Python, output on top ----------------------------------------
  const width = (graph.columns - 1) * (NODE_W + GAP_X) + NODE_W + 2 * PAD;
  const height = graph.rows * (NODE_H + GAP_Y) - GAP_Y + 2 * PAD;
  const pos = new Map();
  for (const n of drawnNodes) {
    const x = PAD + NODE_W / 2 + n.col * (NODE_W + GAP_X);
    const y = PAD + (graph.rows - 1 - n.row) * (NODE_H + GAP_Y) + NODE_H / 2;
    pos.set(n.id, { x, y });
  }

  // ---- the frame: heading, toggle, pass counts ----------------------------------------------------
  const root = el('section', { class: 'exprlab',
    'aria-label': `Computational graph of ${outName} = ${graph.expression}` });
  const at = graph.inputs.map((v) => `${v} = ${say(graph.values[v])}`).join(', ');
  const head = el('div', { class: 'el-head' },
    el('p', { class: 'el-expr' }, el('span', { class: 'el-formula', text: `${outName} = ${graph.expression}` }),
      el('span', { class: 'el-at', text: ` at ${at}` })));
  const toggle = el('fieldset', { class: 'el-mode' }, el('legend', { text: 'Derivatives shown' }));
  const radios = {};
  for (const m of MODES) {
    const label = m === 'forward' ? `Forward mode: ∂·/∂${graph.wrt}` : `Reverse mode: ∂${outName}/∂·`;
    const input = el('input', { type: 'radio', name: `${uid}-mode`, value: m, id: `${uid}-${m}` });
    input.addEventListener('change', () => { if (input.checked) setMode(m, true); });
    radios[m] = input;
    toggle.append(el('label', { class: 'el-choice', for: `${uid}-${m}` }, input, ` ${label}`));
  }
  head.append(toggle);
  const passes = el('p', { class: 'el-passes', 'aria-live': 'polite' });

  // ---- the SVG -------------------------------------------------------------------------------------
  const pic = svg('svg', {
    class: 'el-svg', viewBox: `0 0 ${width} ${height}`, role: 'group',
    'aria-label': `${drawnNodes.length} nodes, inputs at the bottom, ${outName} at the top`,
  });
  // never shrink the text below 90% (the box scrolls instead), never blow it up past 125%
  pic.style.minWidth = `${Math.round(0.9 * width)}px`;
  pic.style.maxWidth = `${Math.round(1.25 * width)}px`;
  const defs = svg('defs');
  const arrow = svg('marker', { id: `${uid}-arrow`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9,
    markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' });
  arrow.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'el-arrowhead' }));
  defs.append(arrow);
  pic.append(defs);
  const edgeLayer = svg('g', { class: 'el-edges' });
  const labelLayer = svg('g', { class: 'el-edge-labels' });
  const nodeLayer = svg('g', { class: 'el-nodes' });
  pic.append(edgeLayer, nodeLayer, labelLayer);

  const edgeEls = [];
  const pairs = new Map(); // parallel edges (x·x) bend apart
  for (const e of drawnEdges) {
    const key = `${e.from}-${e.to}`;
    pairs.set(key, (pairs.get(key) || 0) + 1);
  }
  const seen = new Map();
  for (const e of drawnEdges) {
    const key = `${e.from}-${e.to}`;
    const k = seen.get(key) || 0;
    seen.set(key, k + 1);
    const bend = (k - (pairs.get(key) - 1) / 2) * 34;
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    const x0 = a.x + bend * 0.6;
    const y0 = a.y - NODE_H / 2;
    const x1 = b.x + bend * 0.6;
    const y1 = b.y + NODE_H / 2;
    const my = (y0 + y1) / 2;
    const path = svg('path', {
      class: 'el-edge', 'data-from': e.from, 'data-to': e.to, 'data-slot': e.slot,
      d: `M${x0},${y0} C${x0 + bend},${my} ${x1 + bend},${my} ${x1},${y1}`,
    });
    edgeLayer.append(path);
    // the label sits on the curve's middle (t = 1/2 of the cubic)
    const lx = (x0 + 3 * (x0 + bend) + 3 * (x1 + bend) + x1) / 8;
    const ly = my;
    const text = partialText(e);
    const label = svg('g', { class: 'el-edge-label', 'data-from': e.from, 'data-to': e.to, 'data-slot': e.slot });
    const w = 8 + 6.4 * text.length;
    label.append(svg('rect', { x: lx - w / 2, y: ly - 9, width: w, height: 17, rx: 4, class: 'el-label-bg' }));
    const t = svg('text', { x: lx, y: ly + 4, 'text-anchor': 'middle', class: 'el-partial',
      'data-raw': raw(e.partial) });
    t.textContent = text;
    const tip = svg('title');
    tip.textContent = `${e.text} = ${say(e.partial)}: the local derivative on this edge`;
    label.append(tip, t);
    labelLayer.append(label);
    edgeEls.push({ e, path, label });
  }

  const nodeEls = new Map();
  for (const n of drawnNodes) {
    const p = pos.get(n.id);
    const g = svg('g', {
      class: `el-node el-${n.kind}${n.id === graph.output ? ' el-output' : ''}`, tabindex: 0, role: 'button',
      'data-id': n.id, transform: `translate(${p.x - NODE_W / 2},${p.y - NODE_H / 2})`,
    });
    g.append(svg('rect', { width: NODE_W, height: NODE_H, rx: n.kind === 'op' ? 8 : 22, class: 'el-box' }));
    const name = svg('text', { x: 9, y: 18, class: 'el-title' });
    name.textContent = title(n);
    fit(name, 7.6);
    const value = svg('text', { x: 9, y: 37, class: 'el-value-line' });
    value.append(document.createTextNode('value '));
    const vnum = num('tspan', { class: 'el-value' }, n.value);
    value.append(vnum);
    fit(value, 7);
    const deriv = svg('text', { x: 9, y: 56, class: 'el-deriv-line' });
    const dname = svg('tspan', { class: 'el-deriv-name' });
    const dnum = svg('tspan', { class: 'el-deriv' });
    deriv.append(dname, document.createTextNode(' = '), dnum);
    const tip = svg('title');
    g.append(tip, name, value, deriv);
    g.addEventListener('click', () => pin(n.id));
    g.addEventListener('focus', () => show(n.id));
    g.addEventListener('mouseenter', () => show(n.id));
    g.addEventListener('mouseleave', () => show(pinned));
    g.addEventListener('keydown', (ev) => onKey(ev, n));
    nodeLayer.append(g);
    nodeEls.set(n.id, { g, dname, dnum, tip });
  }

  const scroll = el('div', { class: 'el-scroll' });
  scroll.append(pic);
  const detail = el('div', { class: 'el-detail', 'aria-live': 'polite' });
  const table = el('table', { class: 'el-table' });
  const details = el('details', { class: 'el-numbers' }, el('summary', { text: 'Every number, as a table' }), table);
  root.append(head, passes, scroll, detail, details);
  container.replaceChildren(root);

  // ---- words ---------------------------------------------------------------------------------------
  function sumText(n) {
    const d = derivative(graph, n, current);
    if (current === 'forward') {
      if (n.kind !== 'op') {
        return n.name === graph.wrt
          ? `${d.name} = 1: forward mode starts here, with the tangent of ${graph.wrt} set to 1.`
          : `${d.name} = 0: ${n.name} does not change when ${graph.wrt} does.`;
      }
      const ins = graph.edges.filter((e) => e.to === n.id && nodes[e.from].kind !== 'const');
      if (!ins.length) return `${d.name} = 0: ${n.name} is made of numbers only.`;
      const names = ins.map((e) => `∂${n.name}/∂${nodes[e.from].name}·∂${nodes[e.from].name}/∂${graph.wrt}`);
      const nums = ins.map((e) => `${factor(e.partial)}·${factor(nodes[e.from].tangent)}`);
      return `${d.name} = ${names.join(' + ')} = ${nums.join(' + ')} = ${say(d.value)}: `
        + 'each operand\'s tangent times the local derivative of its edge, summed.';
    }
    if (n.id === graph.output) return `${d.name} = 1: reverse mode starts here, at the output.`;
    const outs = graph.edges.filter((e) => e.from === n.id);
    const names = outs.map((e) => `∂${outName}/∂${nodes[e.to].name}·∂${nodes[e.to].name}/∂${n.name}`);
    const nums = outs.map((e) => `${factor(nodes[e.to].adjoint)}·${factor(e.partial)}`);
    const paths = outs.length > 1 ? ` ${n.name} feeds ${outs.length} edges, so the paths add up.` : '';
    return `${d.name} = ${names.join(' + ')} = ${nums.join(' + ')} = ${say(d.value)}: `
      + `each consumer's adjoint times the local derivative of its edge, summed.${paths}`;
  }

  function show(id) {
    for (const [k, v] of nodeEls) v.g.classList.toggle('el-focus', k === id);
    for (const { e, path, label } of edgeEls) {
      const near = id !== null && (e.from === id || e.to === id);
      path.classList.toggle('el-near', near);
      label.classList.toggle('el-near', near);
    }
    if (id === null || id === undefined) {
      const hint = 'Focus, hover or click a node to see its chain-rule sum with these numbers.';
      detail.replaceChildren(el('p', { class: 'el-hint', text: hint }));
      return;
    }
    const n = nodes[id];
    const whole = n.kind === 'op' && n.expr !== n.formula ? `   (${n.expr})` : '';
    const rows = [el('p', { class: 'el-detail-title', text: `${title(n)}${whole}` })];
    if (n.derivative) rows.push(el('p', { class: 'el-local', text: `Local derivatives: ${n.derivative}` }));
    rows.push(el('p', { class: 'el-sum', text: sumText(n) }));
    detail.replaceChildren(...rows);
    detail.dataset.node = String(id);
  }

  function pin(id) {
    pinned = pinned === id ? null : id;
    for (const [k, v] of nodeEls) v.g.setAttribute('aria-pressed', String(k === pinned));
    show(pinned === null ? id : pinned);
  }

  function move(n, dir) {
    let target = null;
    if (dir === 'up') target = drawnEdges.find((e) => e.from === n.id)?.to;
    else if (dir === 'down') target = drawnEdges.find((e) => e.to === n.id)?.from;
    else {
      const row = drawnNodes.filter((m) => m.row === n.row).sort((a, b) => a.col - b.col);
      const k = row.indexOf(n) + (dir === 'right' ? 1 : -1);
      target = row[k]?.id;
    }
    if (target !== undefined && target !== null) nodeEls.get(target).g.focus();
  }

  function onKey(ev, n) {
    const dirs = { ArrowUp: 'up', ArrowDown: 'down', ArrowLeft: 'left', ArrowRight: 'right' };
    if (dirs[ev.key]) { ev.preventDefault(); move(n, dirs[ev.key]); }
    else if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); pin(n.id); }
    else if (ev.key === 'Escape') { pinned = null; pin(null); show(null); }
  }

  function render() {
    root.dataset.mode = current;
    radios[current].checked = true;
    const all = graph.inputs.map((v) => `∂${outName}/∂${v}`);
    const list = all.length > 1 ? `${all.slice(0, -1).join(', ')} and ${all[all.length - 1]}` : all[0];
    const count = (k) => `${k} pass${k === 1 ? '' : 'es'}`;
    passes.textContent = current === 'forward'
      ? `Forward mode: one pass per input. This pass carries ∂·/∂${graph.wrt} up from ${graph.wrt}; `
        + `${list} take${all.length === 1 ? 's' : ''} ${count(graph.passes.forward)}.`
      : `Reverse mode: one pass for all inputs. It carries ∂${outName}/∂· down from ${outName}: `
        + `${count(graph.passes.reverse)} gives ${list}.`;
    passes.dataset.forward = String(graph.passes.forward);
    passes.dataset.reverse = String(graph.passes.reverse);
    for (const n of drawnNodes) {
      const { g, dname, dnum, tip } = nodeEls.get(n.id);
      const d = derivative(graph, n, current);
      dname.textContent = d.name;
      dnum.textContent = say(d.value);
      dnum.dataset.raw = raw(d.value);
      fit(dname.parentNode, 7);
      const idle = current === 'forward' && !n.from_wrt;
      g.classList.toggle('el-idle', idle);
      const seed = current === 'forward' ? n.kind === 'input' && n.name === graph.wrt : n.id === graph.output;
      g.classList.toggle('el-seed', seed);
      const local = n.derivative ? `; local derivatives ${n.derivative}` : '';
      const label = `${title(n)}; value ${say(n.value)}; ${d.name} = ${say(d.value)}${local}`;
      g.setAttribute('aria-label', label);
      tip.textContent = label;
    }
    for (const { e, path } of edgeEls) {
      path.classList.toggle('el-live', current === 'reverse' || nodes[e.from].from_wrt);
      path.setAttribute(current === 'forward' ? 'marker-end' : 'marker-start', `url(#${uid}-arrow)`);
      path.removeAttribute(current === 'forward' ? 'marker-start' : 'marker-end');
    }
    show(pinned);
  }

  function setMode(m, fromUser = false) {
    if (!MODES.includes(m)) throw new Error(`exprlab: mode is 'forward' or 'reverse', not ${m}`);
    current = m;
    render();
    if (fromUser && onModeChange) onModeChange(m);
  }

  const th = el('tr', {}, ...['node', 'value', `∂·/∂${graph.wrt} (forward)`, `∂${outName}/∂· (reverse)`]
    .map((h) => el('th', { scope: 'col', text: h })));
  const body = nodes.filter((n) => n.kind !== 'const' || n.id === graph.output).map((n) => el('tr', { 'data-id': n.id },
    el('th', { scope: 'row', text: title(n) }),
    el('td', { class: 'el-t-value', 'data-raw': raw(n.value), text: say(n.value) }),
    el('td', { class: 'el-t-tangent', 'data-raw': raw(n.tangent), text: say(n.tangent) }),
    el('td', { class: 'el-t-adjoint', 'data-raw': raw(n.adjoint), text: say(n.adjoint) })));
  table.replaceChildren(el('thead', {}, th), el('tbody', {}, ...body));
  render();
  return {
    get mode() { return current; },
    setMode: (m) => setMode(m),
    select: (id) => pin(id),
    destroy: () => root.remove(),
    element: root,
  };
}

/** A refused expression (ExprError.to_dict(): { error, position }): the text with a caret under the
 *  position, and the message, announced to screen readers. */
export function drawExpressionError(container, source, { error, position = null }) {
  const box = el('div', { class: 'exprlab el-error', role: 'alert' });
  if (position !== null && position !== undefined) {
    const text = String(source);
    const caret = el('pre', { class: 'el-caret', 'aria-hidden': 'true' });
    caret.append(el('span', { text: text.slice(0, position) }),
      el('mark', { class: 'el-at-error', text: text.slice(position, position + 1) || ' ' }),
      el('span', { text: text.slice(position + 1) }), `\n${' '.repeat(position)}^`);
    box.append(caret);
  }
  const where = position === null || position === undefined ? '' : ` (at character ${position + 1})`;
  box.append(el('p', { class: 'el-error-text', text: `${error}${where}` }));
  container.replaceChildren(box);
  return box;
}
