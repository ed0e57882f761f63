// The URL-hash state: one declarative table, as in TF Playground's state.ts.
// The server validates every value; this table only knows how to write and read the hash.

export const FIELDS = [
  { key: 'dataset', type: 'str' },
  { key: 'noise', type: 'float' },
  { key: 'train_ratio', type: 'float' },
  { key: 'n_points', type: 'int' },
  { key: 'classes', type: 'int' },
  { key: 'features', type: 'strs' },
  { key: 'hidden', type: 'ints' },
  { key: 'activation', type: 'str' },
  { key: 'lr', type: 'float' },
  { key: 'batch_size', type: 'int' },
  { key: 'optimizer', type: 'str' },
  { key: 'regularization', type: 'str' },
  { key: 'reg_rate', type: 'float' },
  { key: 'problem', type: 'str' },
  { key: 'loss', type: 'str' },
  { key: 'seed', type: 'int' },
  { key: 'show_test', type: 'bool', pageOnly: true, fallback: false },
  { key: 'discretize', type: 'bool', pageOnly: true, fallback: false },
];

const BY_KEY = new Map(FIELDS.map((f) => [f.key, f]));

function decode(field, raw) {
  switch (field.type) {
    case 'str': return raw;
    case 'int': { const v = Number(raw); return Number.isInteger(v) ? v : undefined; }
    case 'float': { const v = Number(raw); return raw !== '' && Number.isFinite(v) ? v : undefined; }
    case 'bool': return raw === 'true' || raw === '1';
    case 'strs': return raw === '' ? [] : raw.split(',');
    case 'ints': {
      if (raw === '') return [];
      const v = raw.split(',').map(Number);
      return v.every(Number.isInteger) ? v : undefined;
    }
    default: return undefined;
  }
}

function encode(field, value) {
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/** Parse "#dataset=spiral&hidden=4,2&..." into {server: {...}, page: {...}}; unknown keys are ignored. */
export function parseHash(hash) {
  const server = {};
  const page = {};
  const text = (hash || '').replace(/^#/, '');
  if (!text) return { server, page };
  for (const part of text.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = decodeURIComponent(part.slice(0, eq));
    const field = BY_KEY.get(key);
    if (!field) continue;
    const value = decode(field, decodeURIComponent(part.slice(eq + 1)));
    if (value === undefined) continue;
    (field.pageOnly ? page : server)[key] = value;
  }
  return { server, page };
}

/** Inverse of parseHash; keys appear in table order so that links are stable. */
export function formatHash(serverConfig, pageConfig) {
  const parts = [];
  for (const field of FIELDS) {
    const src = field.pageOnly ? pageConfig : serverConfig;
    if (!src || src[field.key] === undefined || src[field.key] === null) continue;
    parts.push(`${field.key}=${encodeURIComponent(encode(field, src[field.key])).replace(/%2C/g, ',')}`);
  }
  return '#' + parts.join('&');
}

export function pageDefaults() {
  const out = {};
  for (const f of FIELDS) if (f.pageOnly) out[f.key] = f.fallback;
  return out;
}

/** Write the hash without adding a history entry per slider move. */
export function writeHash(serverConfig, pageConfig) {
  const next = formatHash(serverConfig, pageConfig);
  if (next !== location.hash) history.replaceState(null, '', next);
}
