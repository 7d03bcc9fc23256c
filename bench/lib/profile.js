// Reads a V8 .cpuprofile (node --cpu-prof) and sums self time per function and per package.
import fs from 'node:fs';

function packageOf(url) {
  if (!url) return '(native/V8)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node (core)';
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return 'twofold (dist)';
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url) {
  if (!url) return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

/** Top self-time functions and packages of a profile: ms and share of all samples. */
export function summarizeProfile(file, top = 25, { skipMs = 0, untilMs = Infinity } = {}) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const { samples, timeDeltas } = profile;
  let at = 0;
  for (let i = 0; i < samples.length; i++) {
    const dt = timeDeltas[i] ?? 0;
    at += dt;
    if (at < skipMs * 1000 || at > untilMs * 1000) continue; // outside the load (start-up, warm-up, shutdown)
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + dt);
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const fns = new Map();
  const pkgs = new Map();
  for (const [id, us] of selfUs) {
    const cf = byId.get(id).callFrame;
    const name = cf.functionName || '(anonymous)';
    const key = `${name} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const pkg = ['(idle)', '(program)', '(garbage collector)'].includes(name) ? name : packageOf(cf.url);
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us);
  }
  const idleUs = fns.get('(idle) :0') ?? 0;
  const busy = total - idleUs;
  const rows = (map) =>
    [...map.entries()]
      .filter(([k]) => !k.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ name: k, selfMs: Math.round(us / 100) / 10, shareOfBusy: Math.round((us / busy) * 1000) / 10 }));
  return {
    file,
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    functions: rows(fns),
    packages: rows(pkgs),
  };
}
