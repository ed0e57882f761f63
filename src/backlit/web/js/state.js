// The URL-hash state: one declarative table (name, URL key, type), as in TF Playground's state.ts.
// It mirrors the server's table (docs/protocol.md) and is replaced by the `schema` the server sends
// with its first `state`. The server validates every value and normally sends the encoded hash itself
// (`state.url_state`); this table is used to read a hash the user edits by hand.

let FIELDS = [
  { name: 'dataset', url: 'd', type: 'str' },
  { name: 'noise', url: 'n', type: 'float' },
  { name: 'train_ratio', url: 'tr', type: 'float' },
  { name: 'n_points', url: 'np', type: 'int' },
  { name: 'classes', url: 'k', type: 'int' },
  { name: 'seed', url: 's', type: 'int' },
  { name: 'features', url: 'f', type: 'list[str]' },
  { name: 'hidden', url: 'h', type: 'list[int]' },
  { name: 'activation', url: 'a', type: 'str' },
  { name: 'problem', url: 'p', type: 'str' },
  { name: 'loss', url: 'l', type: 'str' },
  { name: 'lr', url: 'lr', type: 'float' },
  { name: 'batch_size', url: 'bs', type: 'int' },
  { name: 'optimizer', url: 'o', type: 'str' },
  { name: 'regularization', url: 'r', type: 'str' },
  { name: 'reg_rate', url: 'rr', type: 'float' },
  { name: 'show_test', url: 'st', type: 'bool' },
  { name: 'discretize', url: 'dz', type: 'bool' },
];

/** Adopt the server's table ([{name, url, type, default, ...}]). */
export function setSchema(schema) {
  if (!Array.isArray(schema) || !schema.length) return;
  FIELDS = schema.filter((s) => s && s.name && s.url && s.type).map((s) => ({ name: s.name, url: s.url, type: s.type, default: s.default }));
}

function decode(type, raw) {
  switch (type) {
    case 'int': { const v = Number(raw); return raw !== '' && Number.isInteger(v) ? v : undefined; }
    case 'float': { const v = Number(raw); return raw !== '' && Number.isFinite(v) ? v : undefined; }
    case 'bool': return raw === '1' || raw === 'true' ? true : raw === '0' || raw === 'false' ? false : undefined;
    case 'list[str]': return raw.split(',').filter((x) => x !== '');
    case 'list[int]': {
      const v = raw.split(',').filter((x) => x !== '').map(Number);
      return v.every(Number.isInteger) ? v : undefined;
    }
    default: return raw;
  }
}

function encode(type, value) {
  if (Array.isArray(value)) return value.join(',');
  if (type === 'bool') return value ? '1' : '0';
  return String(value);
}

/** "#d=xor&h=4,2&st=1" -> {dataset: 'xor', hidden: [4, 2], show_test: true}; bad pairs are skipped. */
export function parseHash(hash) {
  const out = {};
  const text = (hash || '').replace(/^#/, '');
  for (const part of text.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    let key; let raw;
    try { key = decodeURIComponent(part.slice(0, eq)); raw = decodeURIComponent(part.slice(eq + 1)); } catch { continue; }
    const field = FIELDS.find((f) => f.url === key || f.name === key);
    if (!field) continue;
    const value = decode(field.type, raw);
    if (value !== undefined) out[field.name] = value;
  }
  return out;
}

/** Inverse of parseHash (only values that differ from the defaults, when the defaults are known). */
export function formatHash(config) {
  const parts = [];
  for (const f of FIELDS) {
    const v = config[f.name];
    if (v === undefined || v === null) continue;
    if (f.default !== undefined && JSON.stringify(v) === JSON.stringify(f.default)) continue;
    parts.push(`${f.url}=${encodeURIComponent(encode(f.type, v)).replace(/%2C/g, ',')}`);
  }
  return parts.join('&');
}

/** Write the hash without adding a history entry per change; returns true when it changed. */
export function writeHash(text) {
  const next = text ? `#${text}` : '';
  if (next === location.hash || (next === '' && location.hash === '#')) return false;
  history.replaceState(null, '', next || location.pathname + location.search);
  return true;
}
