// The notebook widget's front end (anywidget): the page itself, over the widget's messages.
//
// render() puts index.html's body (the `_html` trait) into the widget's element, installs a transport
// that speaks the page's protocol over the widget model's custom messages (JSON content; a frame is
// {type: "frame"} with the packed frame as its one buffer, decoded by socket.js's FrameDecoder), and
// then imports main.js (the `_main` trait, its imports already data: URLs, see backlit.server.notebook),
// which wires the views exactly as in the page. Nothing else differs from the page.
//
// main.js finds its elements with document.getElementById: one playground per notebook page. Each view
// imports a fresh main.js (a blob: URL of its own), so a re-rendered widget wires itself again; the
// view modules it imports are shared.

import { DrawnAcks, FrameDecoder } from './socket.js';
import { useTransport } from './transport.js';

/** The transport interface (transport.js) over an anywidget model. */
export class WidgetTransport {
  constructor(model, handlers) {
    this.model = model;
    this.handlers = handlers;
    this.nextId = 1;
    this.closed = false;
    this.acks = new DrawnAcks((frames) => { if (!this.closed) this.model.send({ type: 'drawn', frames }); });
    this.decoder = new FrameDecoder();
    this.queue = Promise.resolve();
    this.listener = (content, buffers) => this.receive(content, buffers);
    model.on('msg:custom', this.listener);
    // "connected" at once: the widget's comm is open when a view renders
    queueMicrotask(() => {
      if (this.closed) return;
      handlers.onStatus('connected', 'connected to the kernel');
      handlers.onOpen(false);
    });
  }

  /** The kernel's comm does not drop like a socket: nothing to retry. */
  retryNow() {}

  /** Messages and frames are handled in arrival order (frames inflate asynchronously). */
  receive(content, buffers) {
    if (this.closed || !content) return;
    if (content.type === 'frame' && buffers && buffers.length) {
      const reading = FrameDecoder.read(toArrayBuffer(buffers[0]));
      reading.catch(() => null);
      this.queue = this.queue.then(() => reading).then(({ header, body }) => {
        if (this.closed) return;
        const frame = this.decoder.unpack(header, body);
        this.handlers.onFrame(frame.header, frame.arrays);
        this.frameDrawn();
      }).catch((err) => console.error(err));
    } else {
      this.queue = this.queue.then(() => { if (!this.closed) this.handlers.onMessage(content); })
        .catch((err) => console.error(err));
    }
  }

  frameDrawn() { this.acks.frame(); }

  get open() { return !this.closed; }

  /** Send {type, id, ...payload}; returns the id (echoed back as reply_to) or null once closed. */
  send(type, payload = {}) {
    if (this.closed) return null;
    const id = this.nextId++;
    this.model.send({ type, id, ...payload });
    return id;
  }

  close() {
    this.closed = true;
    this.model.off('msg:custom', this.listener);
  }
}

function toArrayBuffer(b) {
  if (b instanceof ArrayBuffer) return b;
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);  // DataView or typed array
}

/** Wait until `node` is in the document (main.js looks its elements up by id). */
function connected(node) {
  return new Promise((resolve) => {
    const check = () => (node.isConnected ? resolve() : requestAnimationFrame(check));
    check();
  });
}

/** The page sets --inc/--dec (the palette) on <html>; the widget's variables live on its wrapper. */
function mirrorRootVariables(root) {
  const copy = () => {
    const style = document.documentElement.style;
    for (let k = 0; k < style.length; k++) {
      const name = style[k];
      if (name.startsWith('--')) root.style.setProperty(name, style.getPropertyValue(name));
    }
  };
  const observer = new MutationObserver(copy);
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style'] });
  copy();
  return observer;
}

async function render({ model, el }) {
  const scroll = document.createElement('div');
  scroll.className = 'backlit-widget-scroll';
  const root = document.createElement('div');
  root.className = 'backlit-widget';
  root.tabIndex = -1;                                   // a click inside focuses it: keys are the widget's
  root.setAttribute('data-lm-suppress-shortcuts', 'true');  // and not JupyterLab's
  scroll.append(root);
  el.append(scroll);
  await connected(root);
  if (document.getElementById('play')) {
    root.textContent = 'backlit shows one playground per notebook page, and one is already open here: '
      + 'close it (widget.close()) or use that one.';
    return () => scroll.remove();
  }
  root.innerHTML = model.get('_html');
  const observer = mirrorRootVariables(root);
  let transport = null;
  useTransport((handlers) => { transport = new WidgetTransport(model, handlers); return transport; });
  const url = URL.createObjectURL(new Blob([model.get('_main')], { type: 'text/javascript' }));
  try {
    await import(url);
  } finally {
    URL.revokeObjectURL(url);
  }
  return () => {
    if (transport) transport.close();
    observer.disconnect();
    scroll.remove();
  };
}

export default { render };
