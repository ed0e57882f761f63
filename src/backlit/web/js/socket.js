// One WebSocket per tab at /ws: JSON text frames for control, binary frames for grids.
// Reconnects with exponential backoff and reports its status.

/**
 * Binary frame layout: uint32 LE header length H, H bytes of UTF-8 JSON, zero padding to a multiple
 * of 4, then float32 LE arrays; each header.arrays[k] = {name, shape, offset (float32 elements)}.
 */
export function parseFrame(buffer) {
  const view = new DataView(buffer);
  const headerLength = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength)));
  const start = Math.ceil((4 + headerLength) / 4) * 4;
  const arrays = {};
  for (const spec of header.arrays || []) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const byteOffset = start + spec.offset * 4;
    if (byteOffset + count * 4 > buffer.byteLength) continue;
    arrays[spec.name] = { shape: spec.shape, data: new Float32Array(buffer, byteOffset, count) };
  }
  return { header, arrays };
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
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/ws`;
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
    ws.addEventListener('open', () => {
      const reconnect = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.handlers.onStatus('connected', 'connected');
      this.handlers.onOpen(reconnect);
    });
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') {
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return; }
        this.handlers.onMessage(msg);
      } else {
        let frame;
        try { frame = parseFrame(ev.data); } catch { return; }
        this.handlers.onFrame(frame.header, frame.arrays);
      }
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.full = ev.code === 1013 || /full/i.test(ev.reason || '');
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    this.attempt += 1;
    const delay = Math.min(8000, 300 * 2 ** Math.min(this.attempt - 1, 5)) * (0.8 + 0.4 * Math.random());
    const kind = this.full ? 'error' : this.everOpened ? 'reconnecting' : 'connecting';
    const label = this.full ? 'server full: too many open sessions; retrying' : this.everOpened ? 'reconnecting…' : 'connecting…';
    this.handlers.onStatus(kind, `${label} (attempt ${this.attempt}, next in ${(delay / 1000).toFixed(1)} s)`);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  get open() { return this.ws !== null && this.ws.readyState === WebSocket.OPEN; }

  /** Send {type, id, ...payload}; returns the id (echoed back as reply_to) or null when offline. */
  send(type, payload = {}) {
    if (!this.open) return null;
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ type, id, ...payload }));
    return id;
  }
}
