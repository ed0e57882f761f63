// The computation graph view: draws a graph dict from backlit.graph (Graph.to_dict) and steps through it.
//
// Python lays the graph out and computes every number (values, gradients, each edge's local derivative
// and product, the order of the sweeps); this module only places boxes, reveals what has been visited
// and writes the words. A node's gradient shows as "—" until the backward sweep reaches it.
//
//   const view = new GraphView(container, { onZoom: ({ layer, neuron }) => ..., onStep: (pos) => ... });
//   view.show(graphDict);      // the op-level step graph (forward done, backward not started)
//   view.zoom(neuronDict);     // push a neuron's scalar graph; "Back" returns to the step graph
//   view.stepForward(); view.stepBackward(); view.reset(); view.showAll();
//
// Needs graph.css (class names gv-*).

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function html(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (k === 'hidden') node.hidden = Boolean(v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function reducedMotion() {
  return typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
}

export class GraphView {
  constructor(container, { onZoom = null, onStep = null, onBack = null } = {}) {
    this.onZoom = onZoom;
    this.onStep = onStep;
    this.onBack = onBack;
    this.stack = [];          // graphs shown, the current one last (a zoom pushes)
    this.selected = null;
    this.root = html('section', { class: 'graphview', 'aria-label': 'Computation graph' });
    const bar = html('div', { class: 'gv-toolbar', role: 'toolbar', 'aria-label': 'Step through the graph' });
    this.buttons = {};
    for (const [act, label, title] of [
      ['reset', 'Reset', 'Hide every computed value and gradient'],
      ['forward', 'Forward step ▶', 'Compute the next node, in topological order'],
      ['backward', '◀ Backward step', 'Visit the next node in reverse topological order'],
      ['all', 'Show all', 'Finish both sweeps'],
      ['back', '↩ Back to the step graph', 'Leave the neuron zoom'],
      ['fit', 'Actual size', 'Show the graph at its actual size (scroll to move around), or fitted to the width'],
    ]) {
      const b = html('button', { type: 'button', class: `gv-btn gv-${act}`, 'data-act': act, title, text: label });
      b.addEventListener('click', () => this._act(act));
      this.buttons[act] = b;
      bar.append(b);
    }
    this.buttons.back.hidden = true;
    this.fit = null;          // null: fit a wide graph to the width when its text stays readable
    this.progress = html('span', { class: 'gv-progress', 'aria-live': 'polite' });
    bar.append(this.progress);
    this.title = html('p', { class: 'gv-title' });
    this.scroll = html('div', { class: 'gv-scroll' });
    this.explain = html('div', { class: 'gv-explain', 'aria-live': 'polite' });
    this.legend = html('p', { class: 'gv-legend', text:
      'Boxes are the tensors the engine recorded: name, op · shape, value, gradient ∂L/∂(this). ' +
      'A gradient reads "—" until the backward sweep has visited its node. Where a value feeds several ' +
      'nodes, each sends its part and the parts add up. Click a box (or focus it and press Enter) for details.' });
    this.root.append(bar, this.title, this.scroll, this.explain, this.legend);
    container.append(this.root);
  }

  // ---- public API --------------------------------------------------------------------------------
  show(graph) {
    this.stack = [graph];
    this._enter();
  }

  zoom(graph) {
    this.stack.push(graph);
    this._enter();
  }

  back() {
    if (this.stack.length > 1) this.stack.pop();
    this._enter();
    if (this.onBack) this.onBack();
  }

  get graph() { return this.stack[this.stack.length - 1] || null; }

  /** Where the sweeps are: forward nodes computed, backward nodes visited (and the totals). */
  get position() {
    const g = this.graph;
    return { forward: this.f, backward: this.b, forwardTotal: g ? g.forward.length : 0,
             backwardTotal: g ? g.backward.length : 0 };
  }

  reset() { this.f = 0; this.b = 0; this._render('reset'); }

  stepForward() {
    if (!this.graph) return;
    if (this.b > 0 || this.f >= this.graph.forward.length) { this.f = 0; this.b = 0; }
    this.f += 1;
    this._render('forward');
  }

  stepBackward() {
    const g = this.graph;
    if (!g) return;
    this.f = g.forward.length;      // backward needs the whole forward pass
    if (this.b >= g.backward.length) this.b = 0;
    this.b += 1;
    this._render('backward');
  }

  showAll() {
    const g = this.graph;
    if (!g) return;
    this.f = g.forward.length;
    this.b = g.backward.length;
    this._render('all');
  }

  destroy() { this.root.remove(); }

  // ---- drawing -------------------------------------------------------------------------------------
  _act(act) {
    if (act === 'reset') this.reset();
    else if (act === 'forward') this.stepForward();
    else if (act === 'backward') this.stepBackward();
    else if (act === 'all') this.showAll();
    else if (act === 'back') this.back();
    else if (act === 'fit') { this.fit = this.buttons.fit.textContent === 'Fit to width'; this._applyFit(); }
  }

  _enter() {
    const g = this.graph;
    this.buttons.back.hidden = this.stack.length < 2;
    this.selected = null;
    this.f = g.forward.length;     // the step has run forward; backward has not started
    this.b = 0;
    this.nodeById = new Map(g.nodes.map((n) => [n.id, n]));
    this.stepOf = new Map(g.backward.map((s, k) => [s.node, k]));
    this.forwardOf = new Map(g.forward.map((id, k) => [id, k]));
    this.title.textContent = g.title || 'Computation graph';
    this._build();
    this._render('enter');
    // a new graph (a neuron's zoom, or back) opens at its start, not where the last one was scrolled
    this.scroll.scrollTop = 0; this.scroll.scrollLeft = 0;
  }

  /** Fitted to the scroller's width (when that keeps the text at 40% of its size or more), or actual size. */
  _applyFit() {
    const g = this.graph;
    const svgEl = this.scroll.firstChild;
    if (!g || !svgEl) return;
    const room = this.scroll.clientWidth || g.width;
    const fits = this.fit ?? (g.width <= room || room / g.width >= 0.4);
    const scale = fits ? Math.min(1, room / g.width) : 1;
    svgEl.setAttribute('width', Math.round(g.width * scale));
    svgEl.setAttribute('height', Math.round(g.height * scale));
    this.scroll.dataset.scale = scale.toFixed(3);
    this.buttons.fit.textContent = fits ? 'Actual size' : 'Fit to width';
    this.buttons.fit.hidden = g.width <= room;
  }

  _build() {
    const g = this.graph;
    const [w, h] = g.node_size;
    this.scroll.replaceChildren();
    const root = svg('svg', { class: 'gv-svg', viewBox: `0 0 ${g.width} ${g.height}`, width: g.width,
                              height: g.height, role: 'group', 'aria-label': g.title || 'Computation graph' });
    root.append(svg('title', {}, g.title || 'Computation graph'));
    const defs = svg('defs');
    const marker = svg('marker', { id: 'gv-arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7,
                                   markerHeight: 7, orient: 'auto' });
    marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'gv-arrowhead' }));
    defs.append(marker);
    root.append(defs);
    this.edgeEls = [];
    const edges = svg('g', { class: 'gv-edges' });
    for (const e of g.edges) {
      const a = this.nodeById.get(e.source);
      const b = this.nodeById.get(e.target);
      const x0 = a.x + w / 2; const y0 = a.y; const x1 = b.x - w / 2; const y1 = b.y;
      const mx = (x0 + x1) / 2;
      const path = svg('path', { class: 'gv-edge', d: `M${x0},${y0} C${mx},${y0} ${mx},${y1} ${x1},${y1}`,
                                 'marker-end': 'url(#gv-arrow)', 'data-source': e.source, 'data-target': e.target });
      edges.append(path);
      this.edgeEls.push([e, path]);
    }
    root.append(edges);
    this.nodeEls = new Map();
    const nodes = svg('g', { class: 'gv-nodes' });
    for (const n of g.nodes) {
      const x = n.x - w / 2; const y = n.y - h / 2;
      const el = svg('g', { class: `gv-node gv-${n.role}`, 'data-id': n.id, 'data-op': n.op, tabindex: 0,
                            role: 'button' });
      const title = svg('title');
      el.append(title, svg('rect', { x, y, width: w, height: h, rx: 6, class: 'gv-box' }));
      const kind = n.role === 'op' ? n.op : { param: 'parameter', input: 'input', const: 'constant' }[n.role];
      const shape = n.shape.length ? n.shape.join('×') : 'scalar';
      const lines = [[n.label, 'gv-label'], [`${kind.length > 18 ? kind.slice(0, 17) + '…' : kind} · ${shape}`, 'gv-kind'],
                     ['', 'gv-value'], ['', 'gv-grad']];
      // one <text>, a line per <tspan>, a space between them: the text inside reads as the lines do,
      // and the node's accessible name (set with its values) is exactly that text (WCAG 2.5.3)
      const block = svg('text', { class: 'gv-lines' });
      const texts = lines.map(([t, cls], i) => {
        const line = svg('tspan', { x: x + 8, y: y + 17 + 18 * i, class: cls }, t);
        if (i) block.append(document.createTextNode(' '));
        block.append(line);
        return line;
      });
      el.append(block);
      el.addEventListener('click', () => this._select(n.id));
      el.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); this._select(n.id); }
      });
      nodes.append(el);
      this.nodeEls.set(n.id, { el, title, value: texts[2], grad: texts[3], node: n, head: texts.slice(0, 2) });
    }
    root.append(nodes);
    this.svg = root;
    this.scroll.append(root);
    this._applyFit();
  }

  _render(why) {
    const g = this.graph;
    const visitedBackward = new Set(g.backward.slice(0, this.b).map((s) => s.node));
    const computed = new Set(g.forward.slice(0, this.f));
    const current = why === 'backward' ? g.backward[this.b - 1].node
      : why === 'forward' ? g.forward[this.f - 1] : null;
    for (const [id, item] of this.nodeEls) {
      const n = item.node;
      const hasValue = n.role !== 'op' || computed.has(id);
      const visited = visitedBackward.has(id);
      item.value.textContent = `value ${hasValue ? n.text.value : '—'}`;
      let grad = '—';
      if (visited) {
        grad = g.backward[this.stepOf.get(id)].text;
      } else if (this.stepOf.has(id)) {
        const arrivals = g.backward[this.stepOf.get(id)].arrivals;
        const got = arrivals.filter((a) => visitedBackward.has(a.from)).length;
        if (got && arrivals.length > 1) grad = `— (${got} of ${arrivals.length} arrived)`;
      }
      item.grad.textContent = `grad ${grad}`;
      item.grad.setAttribute('data-visited', visited ? 'true' : 'false');
      const state = id === current ? 'current' : (visited || (why === 'forward' && computed.has(id) && n.role === 'op'))
        ? 'visited' : 'pending';
      item.el.setAttribute('data-state', state);
      item.el.setAttribute('aria-current', id === current ? 'step' : 'false');
      // the tooltip and the accessible name hold every line drawn in the box, in order (WCAG 2.5.3)
      item.title.textContent = [...item.head, item.value, item.grad].map((t) => t.textContent).join(' ');
      item.el.setAttribute('aria-label', item.title.textContent);
    }
    for (const [e, path] of this.edgeEls) {
      const sending = why === 'backward' && e.target === current;
      const feeding = why === 'forward' && e.target === current;
      path.setAttribute('class', `gv-edge${sending ? ' gv-send' : ''}${feeding ? ' gv-feed' : ''}`);
    }
    if (current !== null) {
      this.nodeEls.get(current).el.scrollIntoView?.({ block: 'nearest', inline: 'nearest',
        behavior: reducedMotion() ? 'auto' : 'smooth' });
    }
    this.progress.textContent = `forward ${this.f}/${g.forward.length} · backward ${this.b}/${g.backward.length}`;
    this._explain(why, current);
    if (this.onStep && (why === 'forward' || why === 'backward' || why === 'reset' || why === 'all')) {
      this.onStep({ ...this.position, node: current, direction: why });
    }
  }

  _name(id) { return this.nodeById.get(id).label; }

  _explain(why, current) {
    const g = this.graph;
    const box = html('div');
    if (why === 'backward') {
      const s = g.backward[this.b - 1];
      box.append(html('h4', { text: `Backward step ${this.b} of ${g.backward.length}: ${this._name(s.node)}` }));
      if (!s.arrivals.length) {
        box.append(html('p', { text: g.upstream
          ? `The sweep starts here, with ∂L/∂(this) = ${s.text} sent by the rest of the network.`
          : `The sweep starts at the loss: ∂L/∂L = ${s.text}.` }));
      } else {
        const list = html('ul', { class: 'gv-arrivals', 'aria-label': 'Gradient arriving' });
        for (const a of s.arrivals) list.append(html('li', { text: `from ${this._name(a.from)}: ${a.text}` }));
        box.append(html('p', { text: s.arrivals.length > 1
          ? `This value feeds ${s.arrivals.length} nodes; their contributions add up:` : 'Gradient arriving:' }), list);
        box.append(html('p', { class: 'gv-sum', text: `∂L/∂(this) = ${s.text}` }));
      }
      if (s.sends.length) {
        const table = html('table', { class: 'gv-sends' });
        table.append(html('tr', {}, html('th', { text: 'to input' }), html('th', { text: 'local derivative' }),
          html('th', { text: '× upstream' }), html('th', { text: '= sends' })));
        for (const t of s.sends) {
          table.append(html('tr', {}, html('td', { text: this._name(t.to) }),
            html('td', { text: t.text.local }),   // a number, or the op's rule in a few words
            html('td', { text: t.text.upstream }), html('td', { text: t.text.product })));
        }
        box.append(table);
      } else {
        box.append(html('p', { text: 'A leaf: its gradient is final.' }));
      }
    } else if (why === 'forward') {
      const n = this.nodeById.get(current);
      const inputs = g.edges.filter((e) => e.target === current).map((e) => this._name(e.source));
      box.append(html('h4', { text: `Forward step ${this.f} of ${g.forward.length}: ${n.label}` }));
      box.append(html('p', { text: `${n.op}(${inputs.join(', ')}) = ${n.text.value}` }));
    } else if (this.selected !== null) {
      const n = this.nodeById.get(this.selected);
      box.append(html('h4', { text: n.label }));
      const seen = this.stepOf.has(n.id) && this.stepOf.get(n.id) < this.b;
      box.append(html('p', { text: `${n.role === 'op' ? n.op : n.role} · shape ${n.shape.length ? n.shape.join('×') : 'scalar'}` +
        ` · value ${n.text.value} · grad ${seen ? n.text.grad : '—'}` }));
      if (n.zoom && this.onZoom) {
        const row = html('div', { class: 'gv-zoom', role: 'group', 'aria-label': 'Zoom into a neuron' });
        row.append(html('span', { text: 'Zoom into neuron: ' }));
        for (let i = 0; i < n.zoom.neurons; i++) {
          const b = html('button', { type: 'button', class: 'gv-btn gv-zoom-btn', 'data-neuron': i,
                                     'aria-label': `Zoom into neuron ${n.zoom.names ? n.zoom.names[i] : i + 1}`,
                                     text: n.zoom.names ? n.zoom.names[i] : String(i + 1) });
          b.addEventListener('click', () => this.onZoom({ layer: n.zoom.layer, neuron: i }));
          row.append(b);
        }
        box.append(row);
      }
    } else {
      box.append(html('p', { text: 'Press Backward step to visit the nodes in reverse topological order, ' +
        'or Forward step to compute them in order.' }));
    }
    this.explain.replaceChildren(box);
  }

  _select(id) {
    this.selected = id;
    for (const [nid, item] of this.nodeEls) item.el.classList.toggle('gv-selected', nid === id);
    this._explain('select', null);
  }
}
