// The URL hash. The server owns the encoding (backlit.settings): the page sends the hash as it is in
// `hello` and writes back the `url_state` the server returns.

/** The hash without '#'. */
export function readHash() { return location.hash.replace(/^#/, ''); }

/** Write the hash without adding a history entry per change; returns true when it changed. */
export function writeHash(text) {
  const next = text ? `#${text}` : '';
  if (next === location.hash || (next === '' && location.hash === '#')) return false;
  history.replaceState(null, '', next || location.pathname + location.search);
  return true;
}

// ---- weights in the link ---------------------------------------------------------------------------
// "Copy link with weights" appends one more pair, w=<sizes>.<base64url float32>, e.g. w=2-4-2-1.AAB…
// The page takes it off before it sends the hash as url_state, and sends the weights as hello's
// `weights` and `biases`. Order: for each layer, W (out × in, row by row) and then b.
export const MAX_WEIGHT_CHARS = 12000;

export function encodeWeights(sizes, weights, biases) {
  const flat = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    for (const row of weights[l]) flat.push(...row);
    flat.push(...biases[l]);
  }
  const bytes = new Uint8Array(new Float32Array(flat).buffer);
  let bin = '';
  for (let k = 0; k < bytes.length; k += 0x8000) bin += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
  const b64 = btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${sizes.join('-')}.${b64}`;
}

export function decodeWeights(text) {
  const m = /^(\d+(?:-\d+)+)\.([A-Za-z0-9_-]+)$/.exec(text || '');
  if (!m) return null;
  const sizes = m[1].split('-').map(Number);
  let bin;
  try { bin = atob(m[2].replace(/-/g, '+').replace(/_/g, '/')); } catch { return null; }
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  if (bytes.length % 4) return null;
  const flat = new Float32Array(bytes.buffer);
  const weights = []; const biases = [];
  let k = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const W = [];
    for (let i = 0; i < sizes[l + 1]; i++) { W.push(Array.from(flat.subarray(k, k + sizes[l]))); k += sizes[l]; }
    weights.push(W);
    biases.push(Array.from(flat.subarray(k, k + sizes[l + 1]))); k += sizes[l + 1];
  }
  if (k !== flat.length || !flat.every(Number.isFinite)) return null;
  return { sizes, weights, biases };
}

/** Split a hash into the url_state the server reads and the weights fragment the page reads. */
export function splitHash(hash) {
  const pairs = (hash || '').split('&').filter(Boolean);
  const w = pairs.find((p) => p.startsWith('w='));
  return { urlState: pairs.filter((p) => !p.startsWith('w=')).join('&'), weights: w ? decodeWeights(w.slice(2)) : null };
}
