// The teacher's view: polls /teacher/class every 2 s and draws one card per open tab. Every number
// comes from the server (the store the workers report to); this page only draws and posts commands.

const $ = (id) => document.getElementById(id);
// the teacher's URLs, wherever the server is mounted (a reverse proxy may put it at /some/path/)
export const base = location.pathname.replace(/\/teacher(\/[^/]*)?$/, "/teacher");
let classColors = [];
let chosen = null;

function fmt(v, digits = 3) {
  return v === null || v === undefined ? "—" : Number(v).toFixed(digits);
}

export function thumb(canvas, t, colors = classColors) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(t.side, t.side);
  t.cells.forEach((v, i) => {
    // rows come bottom-up from the plane (y grows upwards): flip them for the canvas
    const row = t.side - 1 - Math.floor(i / t.side), col = i % t.side;
    const at = 4 * (row * t.side + col);
    let rgb;
    if (t.kind === "classes") rgb = hex(colors[v % colors.length] || "#888888");
    else rgb = mix(hex(colors[0] || "#1f77b4"), hex(colors[1] || "#ff7f0e"), v / 255);
    img.data.set([...rgb, 255], at);
  });
  ctx.putImageData(img, 0, 0);
}

function hex(c) {
  const n = parseInt(c.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function mix(a, b, t) {
  return a.map((x, i) => Math.round(x + (b[i] - x) * t));
}

function card(s) {
  const el = document.createElement("article");
  el.className = "card";
  el.dataset.tab = s.tab;
  const h = document.createElement("h3");
  h.textContent = s.label;
  const c = document.createElement("canvas");
  c.width = c.height = s.thumb.side;
  c.setAttribute("role", "img");
  c.setAttribute("aria-label", `${s.label}'s decision boundary`);
  thumb(c, s.thumb);
  const dl = document.createElement("dl");
  const rows = [["status", s.status], ["epoch", fmt(s.epoch, 2)], ["train loss", fmt(s.train_loss)],
                ["test loss", fmt(s.test_loss)], ["test accuracy", s.test_acc === null ? "—" : `${(100 * s.test_acc).toFixed(1)}%`],
                ["network", `${s.dataset}, ${s.hidden.join("\u2011") || "no hidden layer"}`]];
  if (s.lesson) rows.push(["lesson", s.lesson]);
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    if (k === "status") dd.className = `status-${s.playing ? "training" : s.status}`;
    dl.append(dt, dd);
  }
  const spot = document.createElement("a");
  spot.href = `${base}/spotlight?tab=${encodeURIComponent(s.tab)}`;
  spot.target = "_blank";
  spot.textContent = "Spotlight on the projector";
  spot.className = "spot";
  el.append(c, h, dl, spot);
  return el;
}

function drawJoin(state) {
  const join = $("join");
  join.replaceChildren();
  if (!state.join_url) {
    join.textContent = "No class code: this server answers on this machine only (start it with --host to invite a class).";
    return;
  }
  const link = document.createElement("a");
  link.href = state.join_url;
  link.textContent = state.join_url;
  const img = document.createElement("img");
  img.src = `${base}/qr.svg`;
  img.alt = `QR code of the join link ${state.join_url}`;
  join.append(img, "Join at ", link);
  if (state.code) {
    const code = document.createElement("code");
    code.textContent = state.code;
    join.append(" with the class code ", code);
  }
}

let joinDrawn = false;

async function refresh() {
  let state;
  try {
    const r = await fetch(`${base}/class`, { cache: "no-store" });
    if (!r.ok) throw new Error(await r.text());
    state = await r.json();
  } catch (e) {
    $("status").textContent = `Cannot reach the server: ${e.message}`;
    return;
  }
  classColors = state.palette.classes;
  if (!joinDrawn) {
    drawJoin(state);
    $("lesson").replaceChildren(...state.lessons.map((l, i) => new Option(`${i + 1}. ${l.title}`, l.name)));
    joinDrawn = true;
  }
  const grid = $("grid");
  grid.replaceChildren(...state.sessions.map(card));
  $("count").textContent = `(${state.sessions.length})`;
  $("empty").hidden = state.sessions.length > 0;
  const to = $("push-to"), keep = to.value;
  const students = new Map(state.sessions.filter((s) => s.student).map((s) => [s.student, s.label]));
  to.replaceChildren(new Option("everyone", ""), ...[...students].map(([id, label]) => new Option(label, id)));
  to.value = students.has(keep) ? keep : "";
}

export async function command(body, done) {
  const r = await fetch(`${base}/command`, { method: "POST", headers: { "content-type": "application/json" },
                                              body: JSON.stringify(body) });
  const reply = await r.json();
  if ($("status")) $("status").textContent = r.ok ? done : `Not sent: ${reply.error}`;
}

if ($("grid")) {
  $("pause-all").addEventListener("click", () => command({ action: "pause_all" }, "Paused every tab."));
  $("resume-all").addEventListener("click", () => command({ action: "resume_all" }, "Every tab is training again."));
  $("push-file").addEventListener("change", async (e) => {
    chosen = null;
    $("push").disabled = true;
    const file = e.target.files[0];
    if (!file) return;
    try {
      chosen = JSON.parse(await file.text());
      $("push").disabled = false;
      $("status").textContent = `Ready to push ${file.name}.`;
    } catch {
      $("status").textContent = `${file.name} is not a session file (save one with the playground's Save).`;
    }
  });
  $("start-lesson").addEventListener("click", () => {
    const choice = $("lesson").selectedOptions[0];
    command({ action: "lesson", lesson: choice.value }, `Started “${choice.textContent}” for everyone.`);
  });
  $("push").addEventListener("click", () => {
    const student = $("push-to").value || null;
    const who = student ? $("push-to").selectedOptions[0].textContent : "everyone";
    command({ action: "push", session: chosen, student }, `Pushed the setup to ${who}.`);
  });

  refresh();
  setInterval(refresh, 2000);
}
