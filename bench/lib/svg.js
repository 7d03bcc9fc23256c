// A hand-written SVG chart: p50/p95/p99 login latency (log scale) against offered load, one
// panel per login scenario, with the 250 ms p99 budget as a dashed line.

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const PERCENTILES = [
  { key: 'p50', color: '#2b8a3e', label: 'p50' },
  { key: 'p95', color: '#e67700', label: 'p95' },
  { key: 'p99', color: '#c92a2a', label: 'p99' },
];

function niceMax(v) {
  if (!(v > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * mag >= v) return m * mag;
  return 10 * mag;
}

/**
 * panels: [{ title, steps: [{ offered, p50, p95, p99, failed }] }]; latencies in ms (null = the
 * step had failures beyond that percentile: drawn at the top, marked with a cross).
 */
export function latencyChart(panels, { title, subtitle } = {}) {
  const W = 360;
  const H = 300;
  const margin = { left: 58, right: 16, top: 44, bottom: 50 };
  const width = margin.left + panels.length * W + 20;
  const height = H + 80;
  const yMin = 5;
  const yMax = 20_000;
  const ly = (v) => Math.log10(Math.min(Math.max(v, yMin), yMax));
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="${margin.left}" y="20" font-size="15" font-weight="bold">${esc(title ?? 'Login latency vs offered load')}</text>`);
  if (subtitle) out.push(`<text x="${margin.left}" y="36" fill="#555">${esc(subtitle)}</text>`);

  panels.forEach((panel, i) => {
    const x0 = margin.left + i * W;
    const pw = W - margin.right - 30;
    const ph = H - margin.top - margin.bottom + 30;
    const top = margin.top + 20;
    const xMax = niceMax(Math.max(...panel.steps.map((s) => s.offered), 1) * 1.05);
    const px = (v) => x0 + (v / xMax) * pw;
    const py = (v) => top + ph - ((ly(v) - ly(yMin)) / (ly(yMax) - ly(yMin))) * ph;
    out.push(`<g>`);
    out.push(`<text x="${x0 + pw / 2}" y="${top - 8}" text-anchor="middle" font-weight="bold">${esc(panel.title)}</text>`);
    out.push(`<rect x="${x0}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
    for (const v of [5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]) {
      const y = py(v);
      out.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${y}" y2="${y}" stroke="#eee"/>`);
      if (i === 0) out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end" fill="#333">${v >= 1000 ? `${v / 1000} s` : `${v} ms`}</text>`);
    }
    for (let k = 0; k <= 5; k++) {
      const v = (xMax * k) / 5;
      const x = px(v);
      out.push(`<line x1="${x}" x2="${x}" y1="${top + ph}" y2="${top + ph + 4}" stroke="#333"/>`);
      out.push(`<text x="${x}" y="${top + ph + 17}" text-anchor="middle" fill="#333">${Math.round(v * 10) / 10}</text>`);
    }
    out.push(`<text x="${x0 + pw / 2}" y="${top + ph + 34}" text-anchor="middle" fill="#333">offered load (logins/s)</text>`);
    const y250 = py(250);
    out.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${y250}" y2="${y250}" stroke="#555" stroke-dasharray="5,4"/>`);
    out.push(`<text x="${x0 + 4}" y="${y250 - 4}" fill="#555">p99 budget 250 ms</text>`);
    const steps = [...panel.steps].sort((a, b) => a.offered - b.offered);
    for (const p of PERCENTILES) {
      const pts = steps.map((s) => [px(s.offered), s[p.key] == null ? py(yMax) : py(s[p.key]), s[p.key] == null]);
      if (pts.length > 1) out.push(`<polyline fill="none" stroke="${p.color}" stroke-width="2" points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
      for (const [x, y, failed] of pts) {
        if (failed) out.push(`<path d="M${x - 4},${y - 4}L${x + 4},${y + 4}M${x - 4},${y + 4}L${x + 4},${y - 4}" stroke="${p.color}" stroke-width="2"/>`);
        else out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${p.color}"/>`);
      }
    }
    if (panel.note) out.push(`<text x="${x0 + pw / 2}" y="${top + ph + 48}" text-anchor="middle" fill="#555" font-size="11">${esc(panel.note)}</text>`);
    out.push(`</g>`);
  });

  const lx = width - 20 - PERCENTILES.length * 60;
  PERCENTILES.forEach((p, k) => {
    out.push(`<line x1="${lx + k * 60}" x2="${lx + k * 60 + 18}" y1="16" y2="16" stroke="${p.color}" stroke-width="3"/>`);
    out.push(`<text x="${lx + k * 60 + 22}" y="20">${p.label}</text>`);
  });
  out.push(`</svg>`);
  return `${out.join('\n')}\n`;
}
