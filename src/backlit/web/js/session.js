// Save and Load: the session JSON comes from the server; the page only moves it to and from a file.

const MAX_FILE = 1024 * 1024;    // a hand-indented file may be bigger than the message it becomes

/** Indented JSON, but each innermost list of numbers (a weight row) on one line. */
function readableJson(data) {
  return JSON.stringify(data, null, 2)
    .replace(/\[\s+([-+\d.eE,\s]+?)\s+\]/g, (_, inner) => `[${inner.replace(/\s+/g, '')}]`);
}

export function downloadJson(data, filename) {
  const blob = new Blob([readableJson(data)], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url; a.download = filename;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

/** Read a chosen file: resolves to {session} or {error} (a sentence naming the file). */
/** Read a saved session; `maxBytes` is the server's message limit (state.limits.max_message_bytes). */
export async function readSessionFile(file, maxBytes) {
  const name = file.name;
  if (file.size > MAX_FILE) return { error: `could not load ${name}: the file is larger than 1 MiB` };
  let data;
  try {
    data = JSON.parse(await file.text());
  } catch {
    return { error: `could not load ${name}: it is not valid JSON` };
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    return { error: `could not load ${name}: not a backlit session (expected a JSON object)` };
  }
  // what goes over the wire is the compact form, and that is what has to fit in one message
  if (JSON.stringify(data).length > maxBytes - 1024) {   // room for the load message around it
    return { error: `could not load ${name}: the session is larger than the server's ${Math.round(maxBytes / 1024)} KiB message limit` };
  }
  return { session: data };
}

// ---- the tab's session, kept across a reload ------------------------------------------------------
// sessionStorage belongs to one tab: a reload (same tab) finds it, a new tab starts from its link.
const KEY = 'backlit.session';

/** Remember {urlState, config, weights, biases, samples_seen, step}; quietly skips when storage is full. */
export function storeSession(snapshot) {
  try { sessionStorage.setItem(KEY, JSON.stringify(snapshot)); } catch { /* private mode, quota */ }
}

/** The snapshot this tab stored, if it was stored for this very hash (a new link starts afresh). */
export function restoredSession(hash) {
  let s = null;
  try { s = JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch { return null; }
  if (!s || typeof s !== 'object' || !s.config || s.urlState !== hash) return null;
  return s;
}

/** Points of the user's own as hello takes them: each part base64 of float64 (x, y, label) triples. */
export function packPoints(points) {
  const pack = (rows) => {
    const bytes = new Uint8Array(new Float64Array(rows.flat()).buffer);
    let text = '';
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return btoa(text);
  };
  return { train: pack(points.train), test: pack(points.test) };
}

/** The hello payload that puts a session back as it was: the same path as a reconnect. */
export function helloFrom(s) {
  const payload = { config: { ...s.config } };
  if (s.points) payload.points = s.points;
  if (s.weights) {
    payload.weights = s.weights;
    payload.biases = s.biases;
    if (Number.isInteger(s.samples_seen)) payload.samples_seen = s.samples_seen;
    if (Number.isInteger(s.step)) payload.step = s.step;
  }
  return payload;
}
