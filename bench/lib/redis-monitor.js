// Counts the Redis commands run on one db index, through MONITOR on a raw RESP connection
// (profiling mode only: MONITOR slows Redis down). `sent` counts only those a client sent (what
// costs the server a round trip), not those a script ran.
import net from 'node:net';

export function monitorRedis(redisUrl, db) {
  const u = new URL(redisUrl);
  const socket = net.connect(Number(u.port || 6379), u.hostname);
  const byCommand = {};
  let total = 0;
  let sent = 0;
  let buffer = '';
  const tag = `[${db} `;
  socket.on('data', (chunk) => {
    buffer += chunk.toString('utf8');
    let nl;
    while ((nl = buffer.indexOf('\r\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 2);
      if (!line.startsWith('+') || !line.includes(tag)) continue;
      const m = line.match(/\] "([^"]+)"/);
      if (!m) continue;
      const cmd = m[1].toLowerCase();
      byCommand[cmd] = (byCommand[cmd] ?? 0) + 1;
      total++;
      if (!line.includes(`${tag}lua]`)) sent++;
    }
  });
  const ready = new Promise((resolve, reject) => {
    socket.once('connect', () => {
      socket.write('MONITOR\r\n');
      setTimeout(resolve, 100);
    });
    socket.once('error', reject);
  });
  return {
    ready,
    reset() {
      for (const k of Object.keys(byCommand)) delete byCommand[k];
      total = 0;
      sent = 0;
    },
    snapshot: () => ({ total, sent, byCommand: { ...byCommand } }),
    close: () => socket.destroy(),
  };
}
