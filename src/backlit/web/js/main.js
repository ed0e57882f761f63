// Wiring: socket <-> views. The page's state is declared in store.js, messages are routed by router.js,
// Predict, then reveal lives in predict.js; here the views are made and joined. Every number comes from
// the server.

import { openTransport } from './transport.js';
import { readHash, writeHash, splitHash, encodeWeights, MAX_WEIGHT_CHARS } from './state.js';
import { Controls } from './controls.js';
import { NetworkView } from './network.js';
import { Plane, renderScale, setExtent } from './plane.js';
import { Rail } from './rail.js';
import { Inspector } from './inspector.js';
import { Stepper } from './stepper.js';
import { setPalette, palette, setColors } from './colors.js';
import { setMapSchema } from './netmaps.js';
import { StatusLine, ConnectionBanner } from './status.js';
import { downloadJson, readSessionFile, storeSession, restoredSession, helloFrom, packPoints } from './session.js';
import { bindKeys } from './keys.js';
import { LearnPanel } from './learn.js';
import { Selection } from './selection.js';
import { GraphView } from './graphview.js';
import { GradFlowStrip, renderBadgeLegend, BADGE_GLYPHS } from './gradflow.js';
import { neuronMapCanvas } from './netmaps.js';
import { el } from './format.js';
import { Tour } from './tour.js';
import { DataEditor } from './dataedit.js';
import { Recorder } from './recorder.js';
import { newStore } from './store.js';
import { makeRouter } from './router.js';
import { Predict } from './predict.js';
import { ImagesView } from './images.js';
import { LessonView, stripLessonHash } from './lesson.js';

const $ = (id) => document.getElementById(id);
const showTest = $('show-test');
const discretize = $('discretize');

const app = newStore();            // the page's declared state (store.js)

window.backlitDebug = {
  get lastTrace() { return sample.trace; },
  get sampleState() { return sample.state; },
  send: (type, payload) => send(type, payload),
  get lastFrameHeader() { return app.header; },
  get state() { return app.state; },
  get selection() { return app.selection; },
  get drawCount() { return app.drawCount; },
  get framesReceived() { return app.framesReceived; },
  get rafCount() { return app.rafCount; },
  get drawMs() { return app.drawMs; },
  app,
};

// ---- status line ---------------------------------------------------------------------------------
const status = new StatusLine($('status'));
function renderStatus() {
  const text = app.playing ? 'training' : (app.header && app.header.status) || (app.state && app.state.status) || 'ready';
  status.setSession({ diverged: app.diverged, text });
  $('lr').classList.toggle('warn', app.diverged);
}
const flash = (text, kind, ms) => status.flash(text, kind, ms);

// ---- socket --------------------------------------------------------------------------------------
const socket = openTransport({
  onOpen(reconnect) {
    // First visit: the hash is the configuration. Reconnect: the config we had, and the last weights.
    app.selection = null;
    sample.reset();
    app.courseHello = true;          // the first state of this connection restores the course
    if (!reconnect || !app.state) {
      // a reload of this tab: its stored session (configuration and weights), as a reconnect would
      const saved = restoredSession(readHash());
      if (saved) { send('hello', helloFrom(saved)); return; }
      send('hello', helloFromHash(readHash()));
      return;
    }
    const payload = { config: { ...app.config } };
    if (app.state.custom_data && app.points) payload.points = packPoints(app.points);
    if (app.lastWeights) {
      payload.weights = app.lastWeights.weights;
      payload.biases = app.lastWeights.biases;
      if (app.header && Number.isInteger(app.header.samples_seen)) payload.samples_seen = app.header.samples_seen;
      if (app.header && Number.isInteger(app.header.step)) payload.step = app.header.step;
    }
    send('hello', payload);
  },
  onStatus(kind, text, info) {
    status.setConnection(kind, text);
    banner.update(kind, info);
    if (kind !== 'connected') { app.pendingHidden = null; if (app.playing) setPlaying(false); }
  },
  onMessage: (msg) => route(msg),
  onFrame: handleFrame,
});

const banner = new ConnectionBanner($('offline-banner'), { onRetry: () => socket.retryNow() });

/** hello for a link: its url_state, and the weights when it carries a w= fragment. */
function helloFromHash(hash) {
  const { urlState, weights } = splitHash(stripLessonHash(hash));
  const payload = urlState ? { url_state: urlState } : {};
  if (weights) { payload.weights = weights.weights; payload.biases = weights.biases; }
  return payload;
}

/** Keep this tab's session in sessionStorage (at most twice a second), so a reload restores it. */
let persistTimer = null;
function persist(now = false) {
  const run = () => {
    persistTimer = null;
    if (!app.state || typeof app.urlState !== 'string') return;
    const snap = { urlState: app.urlState, config: app.config };
    if (app.state.custom_data && app.points) snap.points = packPoints(app.points);
    if (app.lastWeights) {
      Object.assign(snap, app.lastWeights);
      if (app.header) { snap.samples_seen = app.header.samples_seen; snap.step = app.header.step; }
    }
    storeSession(snap);
  };
  if (now) { clearTimeout(persistTimer); run(); return; }
  if (!persistTimer) persistTimer = setTimeout(run, 500);
}
window.addEventListener('pagehide', () => persist(true));

const sample = new Selection((type, payload) => send(type, payload));
const imagesView = new ImagesView({ send: (type, payload) => send(type, payload), flash: (t, k) => flash(t, k) });

function send(type, payload = {}, onReply = null) {
  const id = socket.send(type, payload);
  if (id === null) { flash('not connected: the action was not sent', 'error', 3000); return null; }
  if (onReply) app.pending.set(id, onReply);
  return id;
}

// ---- views ---------------------------------------------------------------------------------------
const controls = new Controls({
  onChange(partial) {
    // the optimiser settings keep the weights and the sample, so a finished Backward can stay on screen
    if (Object.keys(partial).every((k) => KEEPS_TRACE.has(k))) stepper.cancel(); else stopAnimation();
    send('set', { config: partial });
  },
  onAction(name) {
    if (name === 'regenerate') { stopAnimation(); send('regenerate'); }
    if (name === 'feature-needed') flash('the network needs at least one input feature', 'info', 3000);
  },
});

const plane = new Plane($('plane'), $('plane-tip'), {
  onPick(x, y) { send('select_point', { x, y }); },
});

const rail = new Rail($('loss-chart'), $('chart-hover'));

// Edit data (points by hand, CSV in and out) and Record (the loss curve and the plane as a WebM)
const dataEdit = new DataEditor($('data-edit'), {
  plane, send: (type, payload, onReply) => send(type, payload, onReply), save: () => send('save'), flash: (...a) => flash(...a),
});
const recorder = new Recorder($('record'), {
  sources: () => [$('loss-chart'), $('plane')],
  name: () => app.config.dataset,
  caption: () => `backlit · ${app.config.dataset || ''} · epoch ${$('epoch').textContent}`,
  flash: (...a) => flash(...a),
});

const network = new NetworkView({
  svgEl: $('network'), stage: $('net-stage'), buttons: $('neuron-buttons'), tip: $('net-tip'), keyEl: $('link-key'),
  handlers: {
    onLink: openLink,
    onNeuron: openNeuron,
    onBias: openBias,
    onAddNeuron(l) { changeHidden((h) => { h[l] = Math.min(h[l] + 1, limit('max_neurons', 16)); }); },
    onRemoveNeuron(l) { changeHidden((h) => { h[l] = Math.max(h[l] - 1, 1); }); },
    onHoverNeuron: showNeuronOnPlane,
  },
});

const inspector = new Inspector($('inspector'), {
  onCheck() {
    const t = inspector.target;
    if ((inspector.mode !== 'link' && inspector.mode !== 'bias') || !t) return;
    withTrace(() => send('check', { layer: t.l, i: t.i, j: inspector.mode === 'bias' ? 'bias' : t.j }));
  },
  onSetWeight(layer, i, j, value) {
    inspector.clearCheck();
    send('set_weight', { layer, i, j, value }, { onError: (m) => inspector.showEditError(m.message || 'rejected') });
    sample.invalidate();
  },
  neuronName: (c, i) => network.neuronName(c, i),
  biasName: (l, i) => network.biasName(l, i),
  // Predict, then reveal: nothing in the inspector gives a sign away before Backward has run
  hiding: () => predicting() && network.phase !== 'backward-done',
  onOpenLink: (l, i, j) => openLink(l, i, j),
  onApplyUpdate: (scale) => withTrace(() => send('apply_update', { scale })),
  // values of neuron i in linear layer l from the current trace, for the inspector's explanation
  context(l, i) {
    const t = sample.trace;
    const out = { activation: app.state && app.state.activations ? app.state.activations[l] : undefined };
    if (!t || !t.layers || !t.layers[l]) return out;
    const pick1 = (v) => (Array.isArray(v) ? (Array.isArray(v[0]) ? v[0][i] : v[i]) : v);
    out.z = pick1(t.layers[l].z);
    if (l === t.layers.length - 1) {
      out.prediction = pick1(t.prediction);
      out.target = Array.isArray(t.target) ? pick1(t.target) : t.target;
    }
    return out;
  },
});

const learn = new LearnPanel($('learn'), $('learn-toggle'), { send: (type, payload, onReply) => send(type, payload, onReply) });
const tour = new Tour($('tour'), $('tour-start'));
const course = new LessonView($('lesson'), $('course-toggle'), {
  send: (type, payload) => send(type, payload),
  onSetup() { stopAnimation(); },
  onDecline() { tour.maybeStart(); },   // the first visit chose free play: the tour shows it round
  // an exercise answered: the selected sample's trace (withheld until now) may come again
  onUnlock() { sample.reset(); if (app.state && Number.isInteger(app.state.selected)) sample.select(app.state.selected); },
});

const stepper = new Stepper(network, {
  speed: () => Number($('anim-speed').value),
  skip: () => $('skip-animation').checked,
});

const KEEPS_TRACE = new Set(['lr', 'batch_size', 'optimizer', 'regularization', 'reg_rate']);

/** Stop a Forward/Backward animation and go back to the plain network view. */
function stopAnimation() {
  stepper.cancel();
  if (network.phase !== 'idle') network.setView({ phase: 'idle', fwdCol: -1, bwdCol: Infinity });
}

function limit(key, fallback) { return (app.state && app.state.limits && app.state.limits[key]) || fallback; }

function changeHidden(mutate) {
  // clicks faster than a round trip build on the last change sent, so none is lost
  const h = (app.pendingHidden ? app.pendingHidden.hidden : app.config.hidden || []).slice();
  mutate(h);
  stepper.cancel();
  const id = send('set', { config: { hidden: h } });
  if (id !== null) app.pendingHidden = { id, hidden: h };
}

// ---- messages ------------------------------------------------------------------------------------
let route = () => {};                // the router, made once every view exists (see "wiring" below)

function onErrorMessage(msg) {
  const m = (msg.message || 'error').split('\n')[0].replace(/:$/, '');   // a CSV's every bad line goes to its own list
  flash(msg.field && !m.startsWith(msg.field) ? `${msg.field}: ${m}` : m, 'error');
  sample.failed();
}

function onPoints(msg) {
  app.points = msg;
  const selectionFollows = dataEdit.onPoints(msg);
  stopAnimation();                 // new data: the animated sample is gone
  plane.setPoints(msg);
  renderScale($('plane-scale'), msg);
  // new data: the selected index now points at a different sample; ask for it again
  app.selection = null;
  sample.reset();
  plane.setSelected(null); plane.setInputGrad(null); plane.setNudge(null); plane.setSaliency(null);
  const sel = app.state && app.state.selected;
  // after add_point the server sends the new point's selection itself (and an empty plane has none)
  if (sel !== null && sel !== undefined && sel < msg.train.length && !selectionFollows) sample.select(sel);
}

function adoptSchema(schema) {
  app.schema = schema;
  network.setBadges(null, BADGE_GLYPHS);
  renderBadgeLegend($('badge-legend'), schema.badges);
  buildPresets(schema.presets);
  $('export').replaceChildren(el('option', { value: '' }, 'choose…'),
    ...Object.entries(schema.exports || {}).map(([v, label]) => el('option', { value: v }, label)),
    // what this server cannot make, and how to get it: shown, never selectable
    ...Object.entries(schema.exports_missing || {}).map(([label, how]) => el('option', { disabled: true }, `${label}: ${how}`)));
  setColors(schema.palette);
  setExtent(schema.extent);
  setMapSchema(schema);
  controls.setSchema(schema);
  imagesView.addEntry($('dataset-thumbs'), schema.views);
  inspector.setSchema(schema);
  course.setSchema(schema.course);
  applyPalette();
}

function onState(s) {
  if (s.schema) adoptSchema(s.schema);
  app.state = s;
  app.config = s.config || app.config;
  app.playing = !!s.playing;
  app.diverged = !!s.diverged;
  controls.setState(s);
  dataEdit.onState(s);
  const feats = app.schema ? app.schema.features : [];
  const labels = (app.config.features || []).map((n) => (feats.find((f) => f.name === n) || { label: n }).label);
  const sizes = s.sizes || [labels.length, ...(app.config.hidden || []), 1];
  const before = network.sizes.join(',') + '|' + network.inputLabels.join(',');
  network.setArchitecture({ sizes, activations: s.activations, inputLabels: labels, maxNeurons: limit('max_neurons', 16) });
  if (before !== network.sizes.join(',') + '|' + network.inputLabels.join(',')) {
    stepper.cancel();
    sample.invalidate();             // the trace was of another network
    if (inspector.mode !== 'empty') inspector.showEmpty();
  }
  inspector.setLossName(app.config.loss);
  if (s.epoch !== undefined) setEpoch(s.epoch, s.step);
  if (s.param_count !== undefined) $('param-count').textContent = `${s.param_count} parameters · network ${sizes.join('-')}`;
  if (s.selected !== undefined && s.selected !== null && app.selection && app.selection.index !== s.selected && !dataEdit.adding) {
    sample.select(s.selected);
  }
  if (s.selected === null && app.selection) { app.selection = null; plane.setSelected(null); plane.setInputGrad(null); plane.setNudge(null); }
  setPlaying(app.playing);
  showTest.checked = !!app.config.show_test;
  discretize.checked = !!app.config.discretize;
  plane.setOptions({ showTest: showTest.checked, discretize: discretize.checked });
  app.urlState = s.url_state;
  writeHash(course.hash(app.urlState));
  persist();
  renderStatus();
  learn.onState(s);
  if (s.schema && app.courseHello) { app.courseHello = false; course.connected(); }
  if (!course.maybeOffer()) tour.maybeStart();
}

/** The epoch counter counts fractions (one Step is one batch), and the step counter below it steps. */
function setEpoch(e, step) {
  const el = $('epoch');
  const t = e === 0 ? '0' : e >= 100 ? String(Math.floor(e)) : e >= 10 ? e.toFixed(1) : e.toFixed(2);
  if (el.textContent !== t) el.textContent = t;
  if (Number.isInteger(step)) {
    const st = `step ${step.toLocaleString('en-US')}`;
    if ($('step-count').textContent !== st) $('step-count').textContent = st;
  }
}

function setPlaying(p) {
  app.playing = p;
  const b = $('play');
  const label = p ? 'Pause' : 'Train';
  if (b.getAttribute('aria-label') !== label) {
    b.setAttribute('aria-label', label);
    b.querySelector('.play-label').textContent = label;
    b.classList.toggle('playing', p);
    b.title = p ? 'Pause training (space)' : 'Train continuously (space)';
  }
  renderStatus();
}

function onSelection(sel) {
  const changed = !app.selection || app.selection.index !== sel.index;
  app.selection = sel;
  plane.setSelected(sel);
  if (changed) { plane.setNudge(null); inspector.clearUpdate(); inspector.clearCheck(); }
  sample.selected(sel.index);        // the server follows every selection with its trace
}

// Keep the selected sample's trace (arrow on the plane, hover values, cost meter) in step with the
// weights: at most every 400 ms while frames arrive, and once more after the last one.
let refreshTimer = null;
let lastRefresh = 0;
function scheduleTraceRefresh() {
  if (!app.selection || refreshTimer) return;
  const wait = Math.max(60, 400 - (performance.now() - lastRefresh));
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    if (sample.state !== 'stale' || !app.selection) return;
    lastRefresh = performance.now();
    sample.refresh();
  }, wait);
}

function onTrace(t) {
  network.setSample(t);
  learn.onTrace(t);
  if (graphOpen() && app.graphIndex !== t.index) { app.graphIndex = t.index; send('graph'); }
  // −∂L/∂x is a backward-pass result: with Predict, then reveal on it waits for Backward too
  plane.setInputGrad(predicting() && network.phase !== 'backward-done' ? null : (t.input_grad || null));
  if (t.cost) inspector.setCost(t.cost);
  if (t.loss_name) inspector.setLossName(t.loss_name);
  refreshInspector();
  sample.received(t);
}

/** Keep the open inspector in step with the trace (or with Predict, then reveal). */
function refreshInspector() {
  const t = inspector.target;
  if (!t) return;
  if (inspector.mode === 'link') send('blame', { layer: t.l, i: t.i, j: t.j });
  else if (inspector.mode === 'bias') send('blame', { layer: t.l, i: t.i, j: 'bias' });
  else if (inspector.mode === 'neuron') {
    send('neuron', { layer: t.c - 1, i: t.i });
    inspector.updateIncoming(incomingOf(t.c, t.i));
  }
}

/** Run fn once a current trace of the selected sample exists (selecting a sample first if needed). */
function withTrace(fn) {
  sample.whenCurrent(fn, app.state ? app.state.selected : undefined);
}

function handleFrame(h, arrays) {
  app.framesReceived += 1;
  app.header = h;
  if (h.reply_to !== undefined && h.reply_to !== null) app.pending.delete(h.reply_to);
  if (h.view === 'images') { imagesView.onFrame(h, arrays); return; }
  if (h.weights) { app.lastWeights = { weights: h.weights, biases: h.biases }; network.setWeights(h.weights, h.biases); persist(); }
  // a finite-difference check belongs to the weights it ran on
  if (app.checkedAtStep !== undefined && h.step !== app.checkedAtStep) { inspector.clearCheck(); app.checkedAtStep = undefined; }
  if (h.history || h.history_reset) {
    rail.addHistory(h.history || [], !!h.history_reset);
    const rows = (h.history || []).map((r) => [r[0], r[3], r[4]]);
    if (h.history_reset) gradflowStrip.setData({ layers: app.state ? app.state.gradflow_layers || [] : [], rows });
    else if (rows.length) gradflowStrip.append(rows);
  }
  network.setBadges(h.badges || null);    // null: no neuron is saturated or dead
  $('badge-legend').hidden = !h.badges;
  if ($('show-saliency').checked && h.step !== app.saliencyStep) scheduleSaliency();
  rail.setMetrics(h);
  setEpoch(h.epoch ?? 0, h.step);
  if (arrays.boundary) {
    plane.setGrid({
      kind: (app.points && app.points.kind) || (app.state && app.state.kind),
      classes: (app.points && app.points.classes) || (app.state && app.state.classes),
      boundary: arrays.boundary, confidence: arrays.confidence || null,
    });
  }
  if (arrays.neurons) network.setMaps(arrays.neurons);
  network.setTraining(h.train_grad || null);
  if (h.playing !== undefined && h.playing !== app.playing) setPlaying(!!h.playing);
  if (h.diverged !== undefined) app.diverged = !!h.diverged;
  renderStatus();
  sample.invalidate();
  scheduleTraceRefresh();
  if (inspector.mode === 'link' && inspector.target && h.weights) {
    const { l, i, j } = inspector.target;
    const w = h.weights?.[l]?.[i]?.[j] ?? null;
    if (w !== null && w !== undefined) inspector.setWeightValue(w);
  }
}

// ---- actions -------------------------------------------------------------------------------------
function pauseIfPlaying() { if (app.playing) { send('pause'); setPlaying(false); } }

function togglePlay() {
  if (app.playing) { send('pause'); setPlaying(false); }
  else {
    stepper.cancel();
    network.setView({ phase: 'idle', fwdCol: -1, bwdCol: Infinity });
    status.clearFlash();
    // the button only reads "Pause" when the server was actually asked to train
    if (send('play') !== null) setPlaying(true);
  }
}

function doForward() {
  pauseIfPlaying();
  stepper.cancel();
  network.setView({ phase: 'idle', fwdCol: -1, bwdCol: Infinity });
  sample.invalidate();               // Forward always traces the sample afresh
  withTrace((t) => stepper.forward(t));
  course.pageEvent('forward');
}

function doBackward() {
  pauseIfPlaying();
  course.pageEvent('backward');
  const ph = network.phase;
  const current = sample.current;
  if (current && (ph === 'forward-done' || ph === 'backward-done')) {
    stepper.cancel();
    network.setView({ phase: 'forward-done', fwdCol: network.nCols - 1, bwdCol: Infinity });
    stepper.backward(current, () => revealed(current));
    return;
  }
  stepper.cancel();
  network.setView({ phase: 'idle', fwdCol: -1, bwdCol: Infinity });
  sample.invalidate();
  withTrace((t) => stepper.forward(t, () => stepper.backward(t, () => revealed(t))));
}

/** Backward has run: grade the guesses, and let the inspector show what it held back. */
function revealed(t) {
  predict.grade(t);
  if (predicting()) { refreshInspector(); plane.setInputGrad((t && t.input_grad) || null); }
}

/**
 * Next sample, whatever ran before (Train, Backward, nothing): the new sample's own forward and
 * backward pass plays, so its pattern of blame lights up. With Predict, then reveal on, only its
 * forward pass: the learner guesses, then presses Backward.
 */
function doNext() {
  pauseIfPlaying();
  stepper.cancel();
  network.setView({ phase: 'idle', fwdCol: -1, bwdCol: Infinity });
  sample.next((t) => stepper.forward(t, predicting() ? null : () => stepper.backward(t, () => revealed(t))));
}

function openLink(l, i, j) {
  if (predicting()) { predict.toggle(l, i, j); return; }
  network.select({ l, i, j }, null);
  const w = app.lastWeights?.weights?.[l]?.[i]?.[j] ?? null;
  inspector.showLink(l, i, j, {
    weight: w,
    names: { from: network.neuronName(l, j), to: network.neuronName(l + 1, i), weight: network.weightName(l, i, j) },
    hasTrace: true,
  });
  bringIntoView($('inspector'));
  withTrace(() => send('blame', { layer: l, i, j }));
}

/** An element that opens below the fold (or above it) scrolls just into view. */
function bringIntoView(node) {
  const r = node.getBoundingClientRect();
  const vh = window.innerHeight || document.documentElement.clientHeight;
  if (r.top < 0 || r.top > vh - 80) node.scrollIntoView({ block: 'nearest' });
}

/** The weights into neuron i of column c, with this sample's ∂L/∂w when the trace is current. */
function incomingOf(c, i) {
  const incoming = [];
  if (c > 0) {
    const W = app.lastWeights?.weights?.[c - 1];
    const G = sample.current ? sample.current.layers?.[c - 1]?.grad_W : null;
    for (let j = 0; j < network.sizes[c - 1]; j++) {
      incoming.push({ l: c - 1, i, j, from: network.neuronName(c - 1, j), w: W?.[i]?.[j] ?? null, g: G?.[i]?.[j] ?? null });
    }
  }
  return incoming;
}

function openNeuron(c, i) {
  network.select(null, { c, i });
  const incoming = incomingOf(c, i);
  inspector.showNeuron(c, i, network.neuronName(c, i), {
    isInput: c === 0, activation: (app.state && app.state.activations && app.state.activations[c - 1]) || '', incoming,
  });
  bringIntoView($('inspector'));
  withTrace(() => send('neuron', { layer: c - 1, i }));
}

function openBias(l, i) {
  network.select(null, { c: l + 1, i });
  const b = app.lastWeights?.biases?.[l]?.[i] ?? null;
  inspector.showBias(l, i, network.neuronName(l + 1, i), b);
  bringIntoView($('inspector'));
  withTrace(() => send('blame', { layer: l, i, j: 'bias' }));
}

function download(session) {
  const name = `backlit-${app.config.dataset || 'session'}-epoch${Math.floor((app.header && app.header.epoch) || 0)}.json`;
  downloadJson(session, name);
  flash(`saved ${name}`, 'info', 3000);
}

async function loadFile(file) {
  if (!file) return;
  const { session, error } = await readSessionFile(file, limit('max_message_bytes', 256 * 1024));
  if (error) { flash(error); return; }
  stepper.cancel();
  send('load', { session }, {
    onError: (m) => flash(`could not load ${file.name}: ${m.message || 'rejected by the server'}`),
    onOk: () => flash(`loaded ${file.name}`, 'info', 3000),
  });
}

// ---- the computation graph, gradient flow, presets, exports, saliency, predict-then-reveal ---------
const graphView = new GraphView($('graph-view'), { onZoom: ({ layer, neuron }) => send('graph_zoom', { layer, neuron }) });
const gradflowStrip = new GradFlowStrip($('gradflow'));

function graphOpen() { return !$('graph-panel').hidden; }
$('show-graph').addEventListener('click', () => {
  const open = !graphOpen();
  $('graph-panel').hidden = !open;
  $('show-graph').setAttribute('aria-expanded', String(open));
  $('show-graph').textContent = open ? 'Hide the graph' : 'Show the graph';
  if (open) withTrace(() => send('graph'));
});

function buildPresets(presets) {
  $('presets').replaceChildren(...presets.map((p) => {
    const b = el('button', { type: 'button', class: 'ghost-btn small', 'data-preset': p.name, title: p.description }, p.label);
    b.addEventListener('click', () => {
      stopAnimation();
      app.preset = p;
      send('set', { config: p.config });
      $('preset-note').textContent = p.description;
      $('preset-note').hidden = false;
      $('preset-fix').textContent = p.fix_label;
      $('preset-fix').hidden = !p.fix_label;
    });
    return b;
  }));
}
$('preset-fix').addEventListener('click', () => {
  if (!app.preset) return;
  stopAnimation();
  send('set', { config: app.preset.fix });
  $('preset-fix').hidden = true;
});

$('export').addEventListener('change', (e) => {
  const format = e.target.value;
  e.target.value = '';
  if (!format) return;
  if (format.startsWith('worked')) withTrace(() => send('export', { format }));
  else send('export', { format });
});

function saveExport(msg) {
  let blob;
  if (msg.base64) {
    const bytes = Uint8Array.from(atob(msg.base64), (c) => c.charCodeAt(0));
    blob = new Blob([bytes], { type: msg.mime });
  } else blob = new Blob([msg.text], { type: msg.mime });
  const a = el('a', { href: URL.createObjectURL(blob), download: msg.filename });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  flash(`saved ${msg.filename}`, 'info', 3000);
}

// The saliency field follows the weights, a few times a second at most.
let saliencyTimer = null;
function scheduleSaliency() {
  if (saliencyTimer) return;
  saliencyTimer = setTimeout(() => { saliencyTimer = null; if ($('show-saliency').checked) send('saliency'); }, 300);
}
$('show-saliency').addEventListener('change', (e) => {
  if (e.target.checked) send('saliency'); else plane.setSaliency(null);
});

/** Hovering a neuron shows its map over the whole plane, as in TF Playground. */
function showNeuronOnPlane(t) {
  const maps = network.maps;
  if (!t || !maps || !maps.shape) { plane.setOverlay(null); return; }
  const nr = maps.shape[1];
  const index = network.sizes.slice(0, t.c).reduce((a, b) => a + b, 0) + t.i;
  const act = t.c === 0 ? 'input' : (app.state && app.state.activations ? app.state.activations[t.c - 1] : '');
  plane.setOverlay({ canvas: neuronMapCanvas(maps.data, index * nr * nr, nr, act), label: `neuron ${network.neuronName(t.c, t.i)}` });
}

// Predict, then reveal (predict.js): a blame already on screen would give the answers away, so ticking
// it goes back to the forward pass that blame came from.
const predict = new Predict({
  checkbox: $('predict-mode'), status: $('predict-status'), network,
  onToggle(on) {
    if (on && (network.phase === 'backward' || network.phase === 'backward-done')) {
      stepper.cancel();
      network.setView(sample.trace ? { phase: 'forward-done', fwdCol: network.nCols - 1, bwdCol: Infinity }
        : { phase: 'idle', fwdCol: -1, bwdCol: Infinity });
    }
    const t = sample.trace;
    plane.setInputGrad(on || !t ? null : (t.input_grad || null));
    refreshInspector();
  },
});
function predicting() { return predict.on; }

// ---- wiring --------------------------------------------------------------------------------------
route = makeRouter(app.pending, {
  state: onState,
  points: onPoints,
  selection: onSelection,
  trace: (m) => onTrace(m.trace || m),
  blame: (m) => inspector.setBlame(m.blame || m),
  neuron: (m) => inspector.setNeuron(m.neuron || m),
  check: (m) => { inspector.setCheck(m); app.checkedAtStep = app.header ? app.header.step : null; },
  nudge: (m) => { plane.setNudge(m); inspector.setNudge(m); },
  update: (m) => { inspector.clearCheck(); inspector.setUpdate(m); sample.invalidate(); sample.refresh(); },
  session: (m) => download(m.session),
  code: (m) => learn.onCode(m),
  graph: (m) => graphView.show(m.graph),
  graph_zoom: (m) => graphView.zoom(m.graph),
  saliency: (m) => { plane.setSaliency(m.grad); app.saliencyStep = app.header ? app.header.step : null; },
  export: saveExport,
  lesson: (m) => { course.onMessage(m); writeHash(course.hash(app.urlState)); },
  error: onErrorMessage,
}, {
  beforeEach(msg) {   // a layer-size change is settled once any later reply arrives
    imagesView.onMessage(msg);     // the images view's own replies (and a plane state closes it)
    if (app.pendingHidden && msg.reply_to !== undefined && msg.reply_to >= app.pendingHidden.id) app.pendingHidden = null;
  },
});
$('play').addEventListener('click', togglePlay);
$('step').addEventListener('click', () => { stepper.cancel(); network.setView({ phase: 'idle', fwdCol: -1, bwdCol: Infinity }); send('step'); });
$('reset').addEventListener('click', () => { stepper.cancel(); network.setView({ phase: 'idle', fwdCol: -1, bwdCol: Infinity }); send('reset'); setPlaying(false); });
$('forward').addEventListener('click', doForward);
$('backward').addEventListener('click', doBackward);
$('next-sample').addEventListener('click', doNext);
$('apply-update').addEventListener('click', () => { pauseIfPlaying(); withTrace(() => send('apply_update')); });
$('nudge').addEventListener('click', () => { pauseIfPlaying(); withTrace(() => send('nudge')); });
$('save').addEventListener('click', () => send('save'));
$('copy-link').addEventListener('click', copyLinkWithWeights);

/** The page's link plus w=<sizes>.<float32 weights>: opening it gives this very network. */
async function copyLinkWithWeights() {
  if (!app.lastWeights || !network.fits(app.lastWeights.weights)) { flash('no weights yet', 'info', 3000); return; }
  const w = encodeWeights(network.sizes, app.lastWeights.weights, app.lastWeights.biases);
  if (w.length > MAX_WEIGHT_CHARS) {
    flash(`these weights are too big for a link (${Math.round(w.length / 1000)} k characters): use Save instead`, 'info', 8000);
    $('save').focus();
    return;
  }
  const link = `${location.origin}${location.pathname}#${app.urlState ? `${app.urlState}&` : ''}w=${w}`;
  app.copiedLink = link;
  try {
    await navigator.clipboard.writeText(link);
    flash(`link with weights copied (${link.length.toLocaleString('en-US')} characters)`, 'info', 4000);
  } catch {
    flash('could not reach the clipboard: the link is in the address bar now', 'info', 6000);
    history.replaceState(null, '', link);
  }
}
$('load').addEventListener('click', () => $('load-file').click());
$('load-file').addEventListener('change', (e) => { loadFile(e.target.files[0]); e.target.value = ''; });
$('add-layer').addEventListener('click', () => changeHidden((h) => { if (h.length < limit('max_layers', 8)) h.push(h.length ? h[h.length - 1] : 4); }));
$('remove-layer').addEventListener('click', () => changeHidden((h) => { h.pop(); }));

for (const [input, key] of [[showTest, 'show_test'], [discretize, 'discretize']]) {
  input.addEventListener('change', () => {
    // drawn at once; the server stores it (it is part of the shareable URL) and echoes the new hash
    plane.setOptions({ showTest: showTest.checked, discretize: discretize.checked });
    send('set', { config: { [key]: input.checked } });
  });
}

function applyPalette() {
  setPalette($('cb-palette').checked ? 'cb' : 'default');
  const p = palette();
  document.body.classList.toggle('cb', $('cb-palette').checked);
  document.documentElement.style.setProperty('--inc', p.increase);
  document.documentElement.style.setProperty('--dec', p.decrease);
  if (p.incName) {
    document.querySelector('#legend .legend-inc').textContent = `${p.incName} ▲: loss wants this weight to increase`;
    document.querySelector('#legend .legend-dec').textContent = `${p.decName} ▼: to decrease`;
  }
  try { localStorage.setItem('backlit.palette', $('cb-palette').checked ? 'cb' : 'default'); } catch { /* private mode */ }
  network.invalidate();
  learn.renderColourWords();
}
try { $('cb-palette').checked = localStorage.getItem('backlit.palette') === 'cb'; } catch { /* ignore */ }
$('cb-palette').addEventListener('change', applyPalette);
applyPalette();

bindKeys({
  togglePlay,
  step: () => $('step').click(),
  forward: doForward,
  backward: doBackward,
  next: doNext,
  escape: () => {
    // focus inside the inspector goes back to what it showed, never to the page body
    const inside = $('inspector').contains(document.activeElement);
    const { mode, target } = inspector;
    inspector.showEmpty(); network.select(null, null);
    if (inside && !network.focusSelected(mode, target)) $('forward').focus();
  },
});

// A hash typed or pasted by hand is a complete description: keys it lacks take their defaults, so
// the session starts again from it, as a fresh tab opening the link would (the server validates it).
window.addEventListener('hashchange', () => {
  const hash = readHash();
  if (hash === app.urlState || hash === course.hash(app.urlState)) return;
  if (course.handleHash(hash)) return;
  stopAnimation();
  send('hello', helloFromHash(hash));
});

// ---- render loop: draw only what changed -------------------------------------------------------
function frame() {
  requestAnimationFrame(frame);
  const t0 = performance.now();
  let drew = false;
  // Canvases first: setting ctx.font on an attached canvas forces a style recalc, which is cheap
  // before this frame's SVG changes and expensive after them. One view failing must not stop the others.
  for (const view of [plane, rail, network]) {
    try { drew = view.draw() || drew; } catch (err) { console.error(err); }
  }
  app.rafCount += 1;
  if (drew) { app.drawCount += 1; app.drawMs += performance.now() - t0; }
}
requestAnimationFrame(frame);
renderStatus();

window.backlitViews = { network, plane, rail, inspector, dataEdit, recorder, gradflow: gradflowStrip, imagesView };
