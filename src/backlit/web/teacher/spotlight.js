// The projector's view of one student's tab, read-only: the network (links coloured by the weight's
// sign, widths by its size) and the boundary, refreshed every second from the class store.
import { base, command, thumb } from "./teacher.js";

const $ = (id) => document.getElementById(id);
const tab = new URLSearchParams(location.search).get("tab");
const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function drawNetwork(svg, d, pal, label) {
  const W = 640, H = 420, pad = 40;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const cols = d.sizes.length;
  const pos = d.sizes.map((n, l) => Array.from({ length: n }, (_, i) => [
    pad + (l * (W - 2 * pad)) / Math.max(1, cols - 1),
    H / 2 + (i - (n - 1) / 2) * Math.min(48, (H - 2 * pad) / Math.max(1, n - 1 || 1)),
  ]));
  const big = Math.max(1e-9, ...d.weights.flat(2).map(Math.abs));
  const colors = pal.gradient.default;
  d.weights.forEach((W_, l) => W_.forEach((row, i) => row.forEach((w, j) => {
    const [x1, y1] = pos[l][j], [x2, y2] = pos[l + 1][i];
    const line = el("line", { x1, y1, x2, y2, stroke: w >= 0 ? colors.pos : colors.neg,
                              "stroke-width": (0.5 + 7 * Math.abs(w) / big).toFixed(2), "stroke-linecap": "round" });
    line.append(Object.assign(el("title", {}), { textContent: `weight ${l + 1}: from ${j + 1} to ${i + 1} = ${w}` }));
    svg.append(line);
  })));
  pos.forEach((layer, l) => layer.forEach(([x, y], i) => {
    svg.append(el("circle", { cx: x, cy: y, r: 12, fill: "#1d2330", stroke: "#fff", "stroke-width": 2 }));
    if (l === 0) {
      const t = el("text", { x: x - 18, y: y + 5, "text-anchor": "end", fill: "#1d2330", "font-size": 15 });
      t.textContent = d.features[i];
      svg.append(t);
    }
  }));
  svg.setAttribute("aria-label", `${label}'s network: ${d.sizes.join("-")}, ${d.activation}; blue links are positive weights, magenta negative`);
  $("net-caption").textContent = `${d.sizes.join("-")} ${d.activation}. ${colors.pos_name[0].toUpperCase()}${colors.pos_name.slice(1)} links are positive weights, ${colors.neg_name} negative; width is the weight's size.`;
}

async function refresh() {
  const r = await fetch(`${base}/class`, { cache: "no-store" });
  if (!r.ok) { $("status").textContent = "The teacher's view needs its key again."; return; }
  const state = await r.json();
  const s = state.sessions.find((x) => x.tab === tab);
  if (!s) { $("status").textContent = "That tab has closed."; return; }
  $("who").textContent = s.label;
  const acc = s.test_acc === null ? "" : ` · test accuracy ${(100 * s.test_acc).toFixed(1)}%`;
  $("numbers").textContent = `${s.status} · epoch ${s.epoch.toFixed(2)} · test loss ${s.test_loss === null ? "—" : s.test_loss.toFixed(3)}${acc}`;
  if (!s.detail) { $("status").textContent = "Waiting for the tab's network…"; return; }
  $("status").textContent = "";
  drawNetwork($("net"), s.detail, state.palette, s.label);
  const plane = $("plane");
  plane.width = plane.height = s.detail.boundary.side;
  thumb(plane, s.detail.boundary, state.palette.classes);
}

command({ action: "spotlight", tab }, "");
setInterval(() => command({ action: "spotlight", tab }, ""), 15000);
refresh();
setInterval(refresh, 1000);
