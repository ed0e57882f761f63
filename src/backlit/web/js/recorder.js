// Record: the loss curve above the plane, composited into one canvas each animation frame, streamed with
// canvas.captureStream() into a MediaRecorder, and downloaded as backlit-<dataset>.webm when stopped.
// The network view is SVG styled by the page's CSS: drawing it into a canvas every frame is not cheap,
// so the video shows what the canvases show (a caption names the dataset and the epoch).

const TYPES = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm'];
const CAPTION = 30;   // CSS pixels of caption above the pictures

export function recorderSupport() {
  if (typeof MediaRecorder === 'undefined') return { ok: false, why: 'this browser has no MediaRecorder' };
  if (typeof HTMLCanvasElement.prototype.captureStream !== 'function') return { ok: false, why: 'this browser cannot stream a canvas (captureStream)' };
  const mime = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
  if (!mime) return { ok: false, why: 'this browser cannot encode WebM video' };
  return { ok: true, mime };
}

export class Recorder {
  /**
   * button: the Record button. sources(): the canvases to stack, top to bottom. name(): the dataset's
   * name, for the file. caption(): a line of text drawn above them. flash(text, kind, ms).
   */
  constructor(button, { sources, name, caption, flash }) {
    this.button = button;
    this.sources = sources;
    this.name = name;
    this.caption = caption || (() => '');
    this.flash = flash || (() => {});
    this.recorder = null;
    const support = recorderSupport();
    this.mime = support.mime;
    if (!support.ok) {
      button.disabled = true;
      button.title = `Recording is not available: ${support.why}`;
      return;
    }
    this.idleTitle = button.title;
    button.addEventListener('click', () => (this.recorder ? this.stop() : this.start()));
  }

  get recording() { return !!this.recorder; }

  start() {
    const srcs = this.sources().filter((c) => c && c.width > 1 && c.height > 1);
    if (!srcs.length) { this.flash('nothing to record yet', 'error', 3000); return; }
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(...srcs.map((c) => c.width));
    const even = (v) => Math.ceil(v / 2) * 2;            // encoders like even sizes
    const heights = srcs.map((c) => Math.round(c.height * width / c.width));
    const top = Math.round(CAPTION * dpr);
    const canvas = document.createElement('canvas');
    canvas.width = even(width);
    canvas.height = even(top + heights.reduce((a, b) => a + b, 0));
    const ctx = canvas.getContext('2d');
    const paint = () => {
      ctx.fillStyle = '#121826';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.fillStyle = '#e4e8f1';
      ctx.font = `${Math.round(13 * dpr)}px system-ui, sans-serif`;
      ctx.textBaseline = 'middle';
      ctx.fillText(this.caption(), Math.round(8 * dpr), top / 2);
      let y = top;
      srcs.forEach((c, k) => { if (c.width > 1) ctx.drawImage(c, 0, y, width, heights[k]); y += heights[k]; });
    };
    paint();
    let stream;
    let rec;
    try {
      stream = canvas.captureStream(30);
      rec = new MediaRecorder(stream, { mimeType: this.mime, videoBitsPerSecond: 2_500_000 });
    } catch (err) {
      this.flash(`could not record: ${err.message || err}`, 'error', 4000);
      return;
    }
    const chunks = [];
    rec.ondataavailable = (ev) => { if (ev.data && ev.data.size) chunks.push(ev.data); };
    rec.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      const blob = new Blob(chunks, { type: 'video/webm' });
      if (!blob.size) { this.flash('the recording is empty', 'error', 3000); return; }
      const file = `backlit-${this.name() || 'session'}.webm`;
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob); a.download = file;
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      this.flash(`saved ${file}`, 'info', 3000);
    };
    this.recorder = rec;
    this.started = performance.now();
    const loop = () => {
      if (this.recorder !== rec) return;
      paint();
      this.raf = requestAnimationFrame(loop);
    };
    this.raf = requestAnimationFrame(loop);
    rec.start(500);
    this.button.classList.add('recording');
    this.button.title = 'Stop recording and download the video';
    this.tick();
    this.timer = setInterval(() => this.tick(), 250);
  }

  tick() {
    const s = Math.floor((performance.now() - this.started) / 1000);
    const text = `Stop (${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')})`;
    if (this.button.textContent !== text) this.button.textContent = text;
  }

  stop() {
    const rec = this.recorder;
    if (!rec) return;
    this.recorder = null;
    cancelAnimationFrame(this.raf);
    clearInterval(this.timer);
    if (rec.state !== 'inactive') rec.stop();
    this.button.classList.remove('recording');
    this.button.textContent = 'Record';
    this.button.title = this.idleTitle;
  }
}
