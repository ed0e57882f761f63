// Dataset thumbnails: a small sample of each dataset's real points, sent by the server in the schema.

import { classColor, divergingCss } from './colors.js';

/** Draw `preview` ([[x, y, label], ...] with x, y in [-1, 1]) on a square canvas. */
export function drawThumb(canvas, preview, kind) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width; const h = canvas.height;
  ctx.fillStyle = '#151b29';
  ctx.fillRect(0, 0, w, h);
  for (const [x, y, label] of preview || []) {
    ctx.beginPath();
    ctx.arc(w / 2 + x * w * 0.46, h / 2 - y * h * 0.46, w / 30, 0, Math.PI * 2);
    ctx.fillStyle = kind === 'regression' ? divergingCss(label, 1) : classColor(label);
    ctx.fill();
  }
}
