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
