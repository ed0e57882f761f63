// One WebSocket per tab at /ws: JSON text frames for control, binary frames for grids.
// Reconnects with exponential backoff and reports its status.

/**
 * Binary frame layout (docs/protocol.md): uint32 LE header length H, H bytes of UTF-8 JSON, padding to
 * a multiple of 8, then the body (deflated when header.body.deflate). header.arrays[k] = {name, shape,
 * dtype: "u8" | "f32", offset, bytes, lo?, hi?, exact?, filter?, same?} and header.tensors[k] = {field,
 * dtype: "f64" | "f32", shapes, offset, bytes, same?}; offsets are bytes into the (inflated) body.
 * A part marked `same` was sent in an earlier frame of this connection: the FrameDecoder keeps it.
 */
/**
 * Flow control, for both transports: count the frames taken in and, once the page has painted, tell the
 * session how many. It sends training frames only while few are unacknowledged, so a slow link or a
 * hidden tab (no animation frames) is not sent frames it cannot show.
 */
export class DrawnAcks {
  constructor(post) { this.post = post; this.undrawn = 0; this.scheduled = false; }

  frame() {
    this.undrawn += 1;
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      const frames = this.undrawn;
      this.undrawn = 0;
      if (frames > 0) this.post(frames);
    });
  }
}

export class FrameDecoder {
  constructor() { this.held = new Map(); }

  reset() { this.held.clear(); }

  /** ArrayBuffer -> Promise of {header, arrays: {name: {shape, data: Float32Array}}}, complete.
   * Frames must be unpacked in arrival order (a `same` part refers to the frames before it). */
  async decode(buffer) {
    const { header, body } = await FrameDecoder.read(buffer);
    return this.unpack(header, body);
  }

  /** The header and the (inflated) body of one frame; needs no earlier frame, so it may run ahead. */
  static async read(buffer) {
    const view = new DataView(buffer);
    const headerLength = view.getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength)));
    const start = Math.ceil((4 + headerLength) / 8) * 8;
    let body = buffer.slice(start);
    if (header.body && header.body.deflate) body = await inflate(body);
    return { header, body };
  }

  unpack(header, body) {
    const arrays = {};
    for (const spec of header.arrays || []) {
      const key = `array:${spec.name}`;
      if (spec.same) {
        if (this.held.has(key)) arrays[spec.name] = this.held.get(key);
        continue;
      }
      if (spec.offset + spec.bytes > body.byteLength) continue;
      const count = spec.shape.reduce((a, b) => a * b, 1);
      let data;
      if (spec.dtype === 'f32') {
        data = new Float32Array(body.slice(spec.offset, spec.offset + count * 4));
      } else {
        const q = new Uint8Array(body, spec.offset, count).slice();
        if (spec.filter === 'delta2') undelta(q, spec.shape);
        data = dequantise(q, spec, count);
      }
      arrays[spec.name] = { shape: spec.shape, data };
      this.held.set(key, arrays[spec.name]);
    }
    for (const spec of header.tensors || []) {
      const key = `tensor:${spec.field}`;
      let value;
      if (spec.same) {
        value = this.held.get(key) ?? null;
      } else {
        const Typed = spec.dtype === 'f64' ? Float64Array : Float32Array;
        const flat = new Typed(body.slice(spec.offset, spec.offset + spec.bytes));
        value = [];
        let k = 0;
        for (const shape of spec.shapes) {
          const size = shape.reduce((a, b) => a * b, 1);
          value.push(nest(flat, k, shape));
          k += size;
        }
        this.held.set(key, value);
      }
      const [first, rest] = spec.field.split('.');
      if (rest) {
        if (!header[first] || typeof header[first] !== 'object') header[first] = {};
        header[first][rest] = value;
      } else {
        header[first] = value;
      }
    }
    return { header, arrays };
  }
}

async function inflate(buffer) {
  const stream = new Blob([buffer]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Response(stream).arrayBuffer();
}

/** Undo the delta2 filter in place: running sums down each column, then along each row (mod 256). */
function undelta(q, shape) {
  if (shape.length < 2) return;
  const w = shape[shape.length - 1];
  const h = shape[shape.length - 2];
  const maps = q.length / (w * h);
  for (let m = 0; m < maps; m++) {
    const base = m * w * h;
    for (let r = 1; r < h; r++) {
      for (let c = 0; c < w; c++) q[base + r * w + c] += q[base + (r - 1) * w + c];
    }
    for (let r = 0; r < h; r++) {
      for (let c = 1; c < w; c++) q[base + r * w + c] += q[base + r * w + c - 1];
    }
  }
}

/** uint8 -> Float32Array: exact (class indices), or lo + q * (hi - lo) / 255 per array or per map. */
function dequantise(q, spec, count) {
  const out = new Float32Array(count);
  if (spec.exact) {
    for (let k = 0; k < count; k++) out[k] = q[k];
    return out;
  }
  const perMap = Array.isArray(spec.lo);
  const maps = perMap ? spec.lo.length : 1;
  const size = count / maps;
  for (let m = 0; m < maps; m++) {
    const lo = perMap ? spec.lo[m] : spec.lo;
    const step = ((perMap ? spec.hi[m] : spec.hi) - lo) / 255;
    for (let k = m * size, end = k + size; k < end; k++) out[k] = lo + q[k] * step;
  }
  return out;
}

/** A flat typed array slice -> nested plain arrays of the given shape (what JSON would have given). */
function nest(flat, start, shape) {
  if (shape.length === 0) return flat[start];
  if (shape.length === 1) return Array.from(flat.subarray(start, start + shape[0]));
  const inner = shape.slice(1).reduce((a, b) => a * b, 1);
  const out = [];
  for (let i = 0; i < shape[0]; i++) out.push(nest(flat, start + i * inner, shape.slice(1)));
  return out;
}

export class Socket {
  /**
   * @param {object} handlers onOpen(isReconnect), onMessage(msg), onFrame(header, arrays),
   *                          onStatus(kind, text) with kind in connecting|connected|reconnecting
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.nextId = 1;
    this.attempt = 0;
    this.everOpened = false;
    this.ws = null;
    this.timer = null;
    this.connect();
    // back online, or the tab shown again: try at once rather than at the next backoff tick
    window.addEventListener('online', () => this.retryNow());
  }

  url() {
    // beside the page, so that a server behind a reverse proxy at /some/path/ is reached at /some/path/ws
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = '';
    url.hash = '';
    return url.href;
  }

  connect() {
    clearTimeout(this.timer);
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.acks = new DrawnAcks((frames) => { if (this.open) this.ws.send(JSON.stringify({ type: 'drawn', frames })); });
    ws.addEventListener('open', () => {
      const reconnect = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.handlers.onStatus('connected', 'connected');
      this.handlers.onOpen(reconnect);
    });
    // Frames inflate asynchronously; every message is still handled in arrival order, and a frame's
    // parts are unpacked in order too (a part marked `same` is the one of the frame before).
    const decoder = new FrameDecoder();
    let queue = Promise.resolve();
    const deliver = (fn) => {
      queue = queue.then(() => { if (this.ws === ws) fn(); }).catch((err) => console.error(err));
    };
    ws.addEventListener('message', (ev) => {
      const data = ev.data;
      if (typeof data === 'string') {
        let msg;
        try { msg = JSON.parse(data); } catch { return; }
        deliver(() => this.handlers.onMessage(msg));
      } else {
        const reading = FrameDecoder.read(data);
        reading.catch(() => null);
        queue = queue.then(() => reading).then(({ header, body }) => {
          if (this.ws !== ws) return;
          const frame = decoder.unpack(header, body);
          this.handlers.onFrame(frame.header, frame.arrays);
          this.frameDrawn();
        }).catch((err) => console.error(err));
      }
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.full = ev.code === 1013 || /full/i.test(ev.reason || '');
      this.scheduleReconnect();
    });
  }

  /** Retry soon and often: a restarted server is found within 2 s (250 ms, 500 ms, 1 s, then every
   * 1.5 s), which costs a closed port almost nothing. onStatus also gets {attempt, delay, full}. */
  scheduleReconnect() {
    this.attempt += 1;
    const delay = Math.min(1500, 250 * 2 ** (this.attempt - 1)) * (0.85 + 0.3 * Math.random());
    const kind = this.full ? 'error' : this.everOpened ? 'reconnecting' : 'connecting';
    const label = this.full ? 'server full: too many open sessions; retrying' : this.everOpened ? 'reconnecting…' : 'connecting…';
    this.nextTry = Date.now() + delay;
    this.handlers.onStatus(kind, `${label} (attempt ${this.attempt})`, { attempt: this.attempt, delay, full: !!this.full });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** "Retry now": skip the wait (does nothing while a connection is open or opening). */
  retryNow() {
    if (this.ws) return;
    clearTimeout(this.timer);
    this.connect();
  }

  frameDrawn() { this.acks.frame(); }

  get open() { return this.ws !== null && this.ws.readyState === WebSocket.OPEN; }

  /** Send {type, id, ...payload}; returns the id (echoed back as reply_to) or null when offline. */
  send(type, payload = {}) {
    if (!this.open) return null;
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ type, id, ...payload }));
    return id;
  }
}
