// Save and Load: the session JSON comes from the server; the page only moves it to and from a file.

const MAX_BYTES = 60 * 1024;     // the server takes messages up to 64 KiB

export function downloadJson(data, filename) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url; a.download = filename;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

/** Read a chosen file: resolves to {session} or {error} (a sentence naming the file). */
export async function readSessionFile(file) {
  const name = file.name;
  if (file.size > MAX_BYTES) return { error: `could not load ${name}: the file is larger than 60 KiB` };
  let data;
  try {
    data = JSON.parse(await file.text());
  } catch {
    return { error: `could not load ${name}: it is not valid JSON` };
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    return { error: `could not load ${name}: not a backlit session (expected a JSON object)` };
  }
  return { session: data };
}
