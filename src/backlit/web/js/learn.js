// The explanation panel: what forward, loss, backward, ∂L/∂w and δ mean, tied to what is lit.
// Every number it shows comes from the server (the state's parameter count, the trace's cost meter,
// the `code` message); this module only writes words around them. Hovering (or focusing) a section
// highlights the part of the page it talks about.

import { el, fmt, fmtDuration } from './format.js';
import { palette } from './colors.js';

const STORE = 'backlit.learn';                 // 'open' | 'closed'

// Which part of the page each section describes: elements by selector, and a class on svg#network.
const HIGHLIGHTS = {
  forward: { sel: ['#forward'], net: 'learn-hl-neurons' },
  loss: { sel: ['.metrics', '#loss-chart'], net: 'learn-hl-output' },
  backward: { sel: ['#backward'], net: 'learn-hl-halos' },
  grad: { sel: ['#legend'], net: 'learn-hl-links' },
  train: { sel: ['#play', '#next-sample'] },
  cost: { sel: ['#cost-meter', '#param-count'] },
  input: { sel: ['#nudge', '#plane'] },
};

const REFERENCES = [
  {
    href: 'https://www.nature.com/articles/323533a0',
    title: 'Learning representations by back-propagating errors',
    who: 'Rumelhart, Hinton & Williams · Nature 323, 1986',
    why: 'The four-page paper that made backprop the standard way to train networks with hidden layers.',
  },
  {
    href: 'https://www.youtube.com/watch?v=VMj-3S1tku0',
    title: 'The spelled-out intro to neural networks and backpropagation: building micrograd',
    who: 'Andrej Karpathy · video lecture',
    why: 'Builds a tiny autograd engine from nothing, one line at a time. The best next step after this page.',
  },
  {
    href: 'https://colah.github.io/posts/2015-08-Backprop/',
    title: 'Calculus on Computational Graphs: Backpropagation',
    who: 'Christopher Olah · essay',
    why: 'Pictures of why going backward through a graph is cheap and going forward, one input at a time, is not.',
  },
  {
    href: 'https://pytorch.org/docs/stable/autograd.html',
    title: 'torch.autograd',
    who: 'PyTorch documentation',
    why: 'How a real framework records the operations you run and plays them back in reverse.',
  },
];

const math = (text) => el('span', { class: 'learn-math' }, text);
const term = (text) => el('dfn', {}, text);

export class LearnPanel {
  /**
   * @param {HTMLElement} root   the <aside id="learn"> (hidden until opened)
   * @param {HTMLElement} toggle the button that opens and closes it (aria-expanded)
   * @param {{send: Function}} io  send(type, payload, onReply) to the server
   */
  constructor(root, toggle, io = {}) {
    this.root = root;
    this.toggle = toggle;
    this.send = io.send || (() => null);
    this.state = null;
    this.cost = null;
    this.codeKey = null;        // the config the shown code was asked for
    this.codeText = '';
    this.lit = [];              // what the hovered section has highlighted
    this.build();
    toggle.addEventListener('click', () => (this.isOpen ? this.close() : this.open({ focus: true })));
    root.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && this.isOpen) { ev.stopPropagation(); this.close(); }
    });
    const cb = document.getElementById('cb-palette');
    if (cb) cb.addEventListener('change', () => this.renderColourWords());
    this.renderColourWords();
    let stored = null;
    try { stored = localStorage.getItem(STORE); } catch { /* private mode */ }
    if (stored === 'open') this.open({ focus: false, remember: false });
    window.backlitLearn = this;   // for tests and the console
  }

  get isOpen() { return !this.root.hidden; }

  // ---- building ----------------------------------------------------------------------------------
  build() {
    const r = this.root;
    r.classList.add('learn');
    r.setAttribute('aria-labelledby', 'h-learn');
    this.closeBtn = el('button', { type: 'button', class: 'learn-close', 'aria-label': 'Close the Learn panel', title: 'Close (Esc)' }, '×');
    this.closeBtn.addEventListener('click', () => this.close());
    this.heading = el('h2', { id: 'h-learn', tabIndex: -1 }, 'How the network learns');
    const head = el('div', { class: 'learn-head' }, this.heading, this.closeBtn);

    this.incWords = [];
    this.decWords = [];
    const inc = () => { const s = el('span', { class: 'learn-inc' }, 'orange'); this.incWords.push(s); return s; };
    const dec = () => { const s = el('span', { class: 'learn-dec' }, 'green'); this.decWords.push(s); return s; };

    // live numbers
    this.lossName = el('b', { 'data-live': 'loss-name' }, 'the loss');
    this.pSpan = el('b', { class: 'learn-live', 'data-cost': 'params' }, 'P');
    this.pSpan2 = el('b', { class: 'learn-live', 'data-cost': 'params' }, 'P');
    this.fdSpan = el('b', { class: 'learn-live', 'data-cost': 'fd_passes' }, '2P');
    this.fbMs = el('b', { class: 'learn-live', 'data-cost': 'forward_backward_ms' }, '–');
    this.fdMs = el('b', { class: 'learn-live', 'data-cost': 'fd_ms' }, '–');
    this.fdHow = el('span', { 'data-cost': 'fd_measured' }, '');
    this.ratio = el('b', { class: 'learn-live', 'data-cost': 'ratio' }, '–');
    this.costTimes = el('div', { class: 'learn-cost-times', hidden: true },
      el('table', { class: 'learn-meter' },
        el('caption', {}, 'Timed on this machine, for this network'),
        el('tr', {}, el('th', { scope: 'row' }, 'Backprop'), el('td', {}, '1 forward + 1 backward'), el('td', { class: 'num' }, this.fbMs)),
        el('tr', {}, el('th', { scope: 'row' }, 'Finite differences'),
          el('td', {}, '2P = ', this.fdSpan, ' forward passes'), el('td', { class: 'num' }, this.fdHow, this.fdMs))),
      el('p', {}, 'Backprop was ', this.ratio, ' faster, and the gap grows with every parameter you add.'));
    this.costWaiting = el('p', { class: 'learn-muted' }, 'Press Forward to time one step of this network.');

    this.code = el('code', { class: 'language-python' }, 'Asking the server for the PyTorch version of this network…');
    this.copyBtn = el('button', { type: 'button', class: 'ghost-btn small learn-copy', disabled: true }, 'Copy');
    this.copyBtn.addEventListener('click', () => this.copy());
    this.copyNote = el('span', { class: 'learn-muted learn-copy-note', role: 'status', 'aria-live': 'polite' }, '');

    const section = (key, title, ...body) => {
      const s = el('section', { class: 'learn-sec', 'data-hl': key || undefined },
        el('h3', {}, title), ...body);
      if (key) {
        s.addEventListener('mouseenter', () => this.highlight(key));
        s.addEventListener('mouseleave', () => this.highlight(null));
        s.addEventListener('focusin', () => this.highlight(key));
        s.addEventListener('focusout', () => this.highlight(null));
      }
      return s;
    };

    const refs = el('ul', { class: 'learn-refs' }, REFERENCES.map((ref) => el('li', {},
      el('a', { href: ref.href, target: '_blank', rel: 'noopener' }, ref.title,
        el('span', { class: 'sr-only' }, ' (opens in a new tab)')),
      el('span', { class: 'learn-who' }, ref.who),
      el('span', { class: 'learn-why' }, ref.why))));

    const body = el('div', { class: 'learn-body' },
      el('p', { class: 'learn-lead' },
        'A network makes a guess, checks how wrong it was, and then asks every weight: how much of that ',
        'error was your doing? ', term('Backpropagation'), ' answers that question for all the weights at once. ',
        'Point at a paragraph below (hover over it, or tap it) to outline the part of the page it describes.'),

      section('forward', '1 · The forward pass: a guess',
        el('p', {}, 'Press ', el('b', {}, 'Forward'), '. The selected point enters on the left. Each neuron adds up ',
          'what arrives along its links, each input multiplied by that link\'s ', term('weight'), ', plus a ',
          term('bias'), '. Call that sum ', math('z'), '. The neuron then bends it with its ', term('activation function'),
          ' (tanh, ReLU, …) and passes the result, ', math('a'), ', to the right.'),
        el('p', {}, 'The neurons light up column by column, left to right, and the number under each one is its ',
          math('a'), ' for this point (the bar beside it, its sign and size). A neuron\'s fill is its map: the ',
          math('a'), ' it gives every point of the plane. The last column is the network\'s guess: the output ',
          'has no activation of its own, so its number is ', math('z'), ', and the loss turns it into a prediction ',
          '(the lines under it).')),

      section('loss', '2 · The loss: one number for "how wrong"',
        el('p', {}, 'The ', term('loss'), ' ', math('L'), ' compares the guess with the right answer and gives ',
          'one number: 0 for perfect, larger for worse. This network uses ', this.lossName, '. ',
          'The Output panel shows two averages: the training loss over the training points, and the test loss ',
          'over the test points, which the network never trains on.')),

      section('backward', '3 · The backward pass and δ',
        el('p', {}, 'Press ', el('b', {}, 'Backward'), '. Now the network works right to left. For each neuron ',
          'it finds ', math('δ = ∂L/∂z'), ': how much the loss would change if that neuron\'s sum ', math('z'),
          ' moved up a tiny bit. (', math('∂L/∂z'), ' is read "the derivative of L with respect to z", ',
          'the slope of the loss along that one number.)'),
        el('p', {}, 'The ', el('b', {}, 'halo'), ' around a neuron shows ', math('|δ|'), ': its ring grows as ',
          math('√|δ|'), ', on one scale for every sample (a full ring is the largest ', math('|δ|'), ' any training ',
          'sample has now), and a neuron under 1% of that has none. A wide ring means this neuron matters a lot ',
          'for the error on this point; a saturated neuron, whose activation is flat, has almost none. ',
          'Each column\'s δ is built from the column to its right: ',
          'send the δs back along the links, times their weights, then times the slope of the activation. ',
          'That is the ', term('chain rule'), ', and it is why a single sweep is enough.')),

      section('grad', '4 · ∂L/∂w: the blame on each link',
        el('p', {}, 'For the link from neuron ', math('j'), ' into neuron ', math('i'), ', the gradient is ',
          math('∂L/∂w = δᵢ · aⱼ'), ': the blame that reached ', math('i'), ' times what flowed along the link. ',
          'Click any link to see those two numbers multiplied out.'),
        el('p', {}, 'A link\'s ', el('b', {}, 'colour'), ' is the sign of ', math('∂L/∂w'), '. ', inc(), ' (▲) means ',
          math('∂L/∂w < 0'), ': making the weight larger would lower the loss, so the loss wants it up. ',
          dec(), ' (▼) means ', math('∂L/∂w > 0'), ': the loss wants it down. Grey means under 1% of full width: ',
          'no real pull either way. ',
          'A thicker link carries more blame. The dashes and arrows say the same thing without colour.'),
        el('p', { 'data-naming': '' }, el('b', {}, 'Names. '), 'Layers and neurons count from 1, everywhere on this page ',
          'and in what it exports. ', math('h2.3'), ' is neuron 3 of hidden layer 2; the inputs keep their feature ',
          'names, as the Input column shows them, and the output is ', math('out'), ' (', math('out.2'), ' when there ',
          'are several). ', math('W2'), ' and ', math('b2'), ' feed layer 2, and ', math('W2[3,1]'), ' is the weight from ',
          'neuron 1 of the layer before (', math('h1.1'), ') into neuron 3 (', math('h2.3'), '): row = the neuron it ',
          'feeds, column = the input it reads. ', math('δ(h2.3)'), ' is that neuron\'s ', math('∂L/∂z'), '. ',
          '(PyTorch counts from 0: there ', math('W2[3,1]'), ' is ', el('code', {}, 'weight[2, 0]'), ' of the second ',
          'layer\'s weights.)')),

      section('train', '5 · Learning: a small step downhill, many times',
        el('p', {}, 'Training moves every weight a little against its gradient: ',
          math('w ← w − η · ∂L/∂w'), ', where ', math('η'), ' is the learning rate. ',
          el('b', {}, 'Train'), ' repeats forward, backward and this step on batch after batch, and the boundary ',
          'on the plane reshapes as it goes.'),
        el('p', {}, el('b', {}, 'Next sample'), ' picks another point. Each point blames different links, ',
          'and training follows their average.')),

      section('cost', '6 · Why two passes are enough',
        el('p', {}, 'This network has ', this.pSpan, ' ', term('parameters'), ' (weights and biases). ',
          'You could find each one\'s gradient by trial: nudge it up, run the network, nudge it down, run it ',
          'again. That is called ', term('finite differences'), ', and it needs 2 × ', this.pSpan2,
          ' = ', el('b', { class: 'learn-live', 'data-cost': 'fd_passes_text' }, '2P'), ' forward passes.'),
        el('p', {}, 'Backprop gets all of them from ', el('b', {}, '1 forward + 1 backward'), ' pass, ',
          'because the backward sweep reuses what the forward pass already computed. ',
          'For a model with a billion parameters that is two passes instead of two billion.'),
        this.costWaiting, this.costTimes),

      section('input', '7 · ∂L/∂x comes for free',
        el('p', {}, 'The backward sweep does not have to stop at the first weights. One more step gives ',
          math('∂L/∂x'), ': how the loss changes if the input point itself moves. ',
          'The arrow on the plane is ', math('−∂L/∂x'), ', the way the point would move to lower its loss.'),
        el('p', {}, 'Researchers use this gradient for ', term('saliency maps'), ' (which pixels of a photo the answer ',
          'depends on most) and for ', term('adversarial examples'), ' (a small, deliberate change to the input that ',
          'fools the network). Press ', el('b', {}, 'Adversarial nudge'), ' to push a copy of the point uphill ',
          'on the loss until its class flips.')),

      section(null, '8 · The same network in PyTorch',
        el('p', {}, 'Every ', el('code', {}, 'loss.backward()'), ' in PyTorch is this backward pass, done by ',
          term('reverse-mode automatic differentiation'), ' over whatever operations you ran. ',
          'JAX\'s ', el('code', {}, 'jax.grad(f)'), ' is the same idea, packaged as a function that returns ',
          'the gradient of ', el('code', {}, 'f'), '. Here is this network, loss and optimizer in PyTorch:'),
        el('div', { class: 'learn-code' },
          el('div', { class: 'learn-code-bar' }, el('span', { class: 'learn-muted' }, 'Python · PyTorch'), this.copyNote, this.copyBtn),
          el('pre', { tabIndex: 0, 'aria-label': 'PyTorch code for this network' }, this.code)),
        el('p', {}, 'A step can also be ', term('recorded and replayed'), '. ', el('code', {}, 'backlit.compile(step)'),
          ' runs one training step while it writes down every numpy call the forward pass, the backward pass ',
          'and the update make; later steps replay that list into arrays made once, with no graph to build, and ',
          'give the same numbers. The playground trains this way. ',
          el('a', { href: 'https://docs.jax.dev/en/latest/automatic-differentiation.html', target: '_blank', rel: 'noopener' },
            'JAX\'s grad() is the same idea'),
          ': it traces your function once and returns a new function for its gradient, which ',
          el('code', {}, 'jax.jit'), ' then compiles.')),

      section(null, 'Read more', refs),
    );
    r.replaceChildren(head, body);
  }

  renderColourWords() {
    const p = palette();
    if (!p.incName) return;          // the palette has not arrived yet: keep the words there are
    for (const s of this.incWords) s.textContent = cap(p.incName);
    for (const s of this.decWords) s.textContent = cap(p.decName);
  }

  // ---- open / close ------------------------------------------------------------------------------
  open({ focus = true, remember = true } = {}) {
    this.root.hidden = false;
    this.toggle.setAttribute('aria-expanded', 'true');
    document.body.classList.add('learn-open');
    if (remember) store('open');
    this.renderLossName();
    this.requestCode();
    if (focus) this.heading.focus({ preventScroll: true });
  }

  close() {
    const hadFocus = this.root.contains(document.activeElement);
    this.highlight(null);
    this.root.hidden = true;
    this.toggle.setAttribute('aria-expanded', 'false');
    document.body.classList.remove('learn-open');
    store('closed');
    if (hadFocus) this.toggle.focus({ preventScroll: true });
  }

  // ---- highlighting the page ---------------------------------------------------------------------
  highlight(key) {
    for (const [node, cls] of this.lit) node.classList.remove(cls);
    this.lit = [];
    const h = key && HIGHLIGHTS[key];
    if (!h) return;
    for (const sel of h.sel || []) {
      for (const node of document.querySelectorAll(sel)) { node.classList.add('learn-hl'); this.lit.push([node, 'learn-hl']); }
    }
    const net = document.getElementById('network');
    if (h.net && net) { net.classList.add(h.net); this.lit.push([net, h.net]); }
  }

  // ---- server messages ---------------------------------------------------------------------------
  onState(s) {
    this.state = s;
    if (s && s.param_count !== undefined && !this.cost) this.renderParams(s.param_count);
    if (this.cost && s && s.param_count !== undefined && s.param_count !== this.cost.params) {
      // the network changed shape: the old timings describe another network
      this.cost = null;
      this.costTimes.hidden = true;
      this.costWaiting.hidden = false;
      this.renderParams(s.param_count);
    }
    this.renderLossName();
    if (this.isOpen) this.requestCode();
  }

  onTrace(t) {
    if (!t || !t.cost) return;
    const c = t.cost;
    this.cost = c;
    this.renderParams(c.params, c.fd_passes);
    setRaw(this.fbMs, c.forward_backward_ms, fmtDuration(c.forward_backward_ms * 1000));
    setRaw(this.fdMs, c.fd_ms, fmtDuration(c.fd_ms * 1000));
    this.fdHow.textContent = c.fd_measured ? '' : '≈ ';
    this.fdHow.title = c.fd_measured ? 'measured' : 'estimated from one timed forward pass';
    this.fdHow.dataset.raw = String(!!c.fd_measured);
    setRaw(this.ratio, c.ratio, Number.isFinite(c.ratio) ? `${fmt(c.ratio, 3)}×` : '–');
    this.costTimes.hidden = false;
    this.costWaiting.hidden = true;
  }

  onCode(msg) {
    const text = msg && typeof msg.text === 'string' ? msg.text : '';
    this.codeText = text;
    this.code.textContent = text || 'The server sent no code for this network.';
    this.copyBtn.disabled = !text;
    this.copyNote.textContent = '';
  }

  renderParams(P, fd) {
    if (P === undefined || P === null) return;
    for (const s of [this.pSpan, this.pSpan2]) setRaw(s, P, String(P));
    const passes = fd ?? 2 * P;
    setRaw(this.fdSpan, passes, String(passes));
    const t = this.root.querySelector('[data-cost="fd_passes_text"]');
    if (t) setRaw(t, passes, String(passes));
  }

  renderLossName() {
    const opt = document.querySelector('#loss option:checked');
    const name = opt ? opt.textContent.trim() : (this.state && this.state.config && this.state.config.loss) || '';
    this.lossName.textContent = name ? `${name}` : 'a loss function';
  }

  /** Ask for the PyTorch code once per configuration (only while the panel is open and connected). */
  requestCode() {
    if (!this.state || !this.state.config) return;
    const { show_test: _a, discretize: _b, ...rest } = this.state.config;
    const key = JSON.stringify(rest);
    if (key === this.codeKey) return;
    this.codeKey = key;
    const id = this.send('code', {}, {
      onError: () => {
        if (this.codeText) return;
        this.code.textContent = 'This server cannot send the PyTorch code yet.';
      },
    });
    if (id === null) this.codeKey = null;   // not connected: ask again with the next state
  }

  async copy() {
    const text = this.codeText;
    if (!text) return;
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      // no clipboard permission: select the code, so Ctrl+C works
      const range = document.createRange();
      range.selectNodeContents(this.code);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try { ok = document.execCommand('copy'); } catch { ok = false; }
    }
    this.copyNote.textContent = ok ? 'Copied.' : 'Selected: press Ctrl+C to copy.';
  }
}

function setRaw(node, raw, text) {
  node.dataset.raw = raw === undefined || raw === null ? '' : String(raw);
  node.textContent = text;
}

function cap(s) { return s ? s[0].toUpperCase() + s.slice(1) : s; }

function store(v) { try { localStorage.setItem(STORE, v); } catch { /* private mode */ } }
