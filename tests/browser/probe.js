// Test probe, injected before the page's own scripts (page.add_init_script).
// It only observes: it wraps WebSocket to count and check what the server sends, and offers helpers
// to fingerprint canvases and record how the network view changes over time.
(() => {
  const T = (window.__t = {
    texts: [],          // types of the JSON messages received, in order
    lastByType: {},     // last JSON message of each type
    frames: 0,          // binary frames received
    lastHeader: null,   // header of the last binary frame
    nonFinite: 0,       // non-finite float32 values seen in binary frames
    badFrames: 0,       // binary frames whose layout did not parse
    sent: [],           // JSON messages the page sent
    socket: null,       // the page's open WebSocket (tests may send on it as the page would)
    opened: 0,          // WebSocket connections opened
    closed: 0,          // WebSocket connections closed
    snaps: {},
    log: [],
  });

  // Frames are decoded with the page's own decoder (socket.js), one decoder per connection and in
  // arrival order (a frame may leave out what the connection's previous frame had: "same").
  let decoderModule = null;
  const loadDecoder = () => (decoderModule = decoderModule || import(new URL('js/socket.js', document.baseURI).href));

  function onBinary(ws, buf) {
    ws.__probeChain = (ws.__probeChain || Promise.resolve()).then(async () => {
      const mod = await loadDecoder();
      if (!ws.__probeDecoder) ws.__probeDecoder = new mod.FrameDecoder();
      const { header, arrays } = await ws.__probeDecoder.decode(await buf);
      for (const a of Object.values(arrays)) {
        for (let k = 0; k < a.data.length; k++) if (!Number.isFinite(a.data[k])) T.nonFinite++;
      }
      for (const field of ['weights', 'biases']) {
        for (const v of (header[field] || []).flat(2)) if (!Number.isFinite(v)) T.nonFinite++;
      }
      T.lastHeader = header;
      T.frames++;
    }).catch(() => { T.badFrames++; });
  }

  function onMessage(ws, data) {
    if (typeof data === 'string') {
      try {
        const m = JSON.parse(data);
        T.texts.push(m.type);
        T.lastByType[m.type] = m;
      } catch (e) {
        T.texts.push('<bad json>');
      }
    } else if (data instanceof ArrayBuffer) {
      onBinary(ws, data);
    } else if (data && data.arrayBuffer) {
      onBinary(ws, data.arrayBuffer());
    }
  }

  const Native = window.WebSocket;
  class ProbedWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('open', () => { T.opened++; T.socket = this; });
      this.addEventListener('close', () => T.closed++);
      this.addEventListener('message', (ev) => onMessage(this, ev.data));
    }
    send(data) {
      if (typeof data === 'string') {
        try { T.sent.push(JSON.parse(data)); } catch (e) { T.sent.push(data); }
      }
      return super.send(data);
    }
  }
  window.WebSocket = ProbedWebSocket;

  // A 64x64 grid of RGBA samples of a canvas: enough to tell drawings apart, small enough to compare.
  T.fingerprint = (selector) => {
    const c = document.querySelector(selector);
    if (!c || !c.width || !c.height) return null;
    const img = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const out = [];
    const n = 64;
    for (let r = 0; r < n; r++) {
      const y = Math.floor(((r + 0.5) * c.height) / n);
      for (let q = 0; q < n; q++) {
        const x = Math.floor(((q + 0.5) * c.width) / n);
        const o = (y * c.width + x) * 4;
        out.push(img[o], img[o + 1], img[o + 2], img[o + 3]);
      }
    }
    return out;
  };
  T.snap = (name, selector) => (T.snaps[name] = T.fingerprint(selector)) !== null;
  // Fraction of sampled pixels that differ (any channel by more than 8) from the stored snapshot.
  T.diff = (name, selector) => {
    const a = T.snaps[name], b = T.fingerprint(selector);
    if (!a || !b || a.length !== b.length) return 1;
    let d = 0;
    for (let k = 0; k < a.length; k += 4) {
      if (Math.abs(a[k] - b[k]) > 8 || Math.abs(a[k + 1] - b[k + 1]) > 8 ||
          Math.abs(a[k + 2] - b[k + 2]) > 8 || Math.abs(a[k + 3] - b[k + 3]) > 8) d++;
    }
    return d / (a.length / 4);
  };

  // The network view's drawn state: which columns are lit (forward) and which carry halos (backward).
  T.networkState = () => {
    const net = document.getElementById('network');
    if (!net) return null;
    const cols = {};
    for (const g of net.querySelectorAll('.neuron')) {
      const c = Number(g.getAttribute('data-col'));
      const e = (cols[c] = cols[c] || { n: 0, lit: 0, halo: 0 });
      e.n++;
      if (g.getAttribute('data-lit') === '1') e.lit++;
      const h = g.getAttribute('data-halo');
      if (h === '+' || h === '-') e.halo++;
    }
    const keys = Object.keys(cols).map(Number).sort((a, b) => a - b);
    return {
      phase: net.getAttribute('data-phase'),
      fwd: net.getAttribute('data-forward-layer'),
      bwd: net.getAttribute('data-backward-layer'),
      litCols: keys.filter((c) => cols[c].lit > 0),
      fullLitCols: keys.filter((c) => cols[c].lit === cols[c].n),
      haloCols: keys.filter((c) => cols[c].halo > 0),
      ncols: keys.length,
    };
  };
  // Record every distinct network state from now on (MutationObserver callbacks run after each task, so
  // a layer-by-layer animation shows up as a sequence of states).
  T.watchNetwork = () => {
    if (T.observer) T.observer.disconnect();
    T.log = [];
    const record = () => {
      const s = T.networkState();
      const key = JSON.stringify(s);
      if (T.log.length === 0 || T.log[T.log.length - 1].key !== key) T.log.push({ key, t: performance.now(), s });
    };
    record();
    T.observer = new MutationObserver(record);
    T.observer.observe(document.documentElement, { subtree: true, attributes: true, childList: true });
  };
  T.stopWatching = () => {
    if (T.observer) T.observer.disconnect();
    T.observer = null;
    return T.log.map((e) => e.s);
  };
})();
