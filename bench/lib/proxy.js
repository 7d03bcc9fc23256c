// A small round-robin HTTP/1.1 reverse proxy for the scaling scenario: plain node:http, one
// keep-alive agent per backend, each request to the next backend in turn. Headers and bodies
// pass through unchanged (the Host header too, so the backends see the issuer's host).
//
//   node bench/lib/proxy.js            run as a child: PORT env, backends over IPC
//
// A child started with an IPC channel takes { backends: ['http://127.0.0.1:p', ...] } messages
// (answered with { ok: true, backends }) so the same proxy, and so the same issuer URL, can
// front one process or two. Prints {"listening": port} when ready.
import http from 'node:http';

/** Starts a proxy on `port` (0 = any); returns { server, setBackends, stats }. */
export function startProxy(port, initial = []) {
  let backends = [];
  let next = 0;
  const stats = { requests: 0, errors: 0, perBackend: {} };

  const setBackends = (urls) => {
    for (const b of backends) b.agent.destroy();
    backends = urls.map((u) => {
      const url = new URL(u);
      return { url: u, host: url.hostname, port: Number(url.port), agent: new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 512, scheduling: 'lifo' }) };
    });
    next = 0;
  };
  setBackends(initial);

  const server = http.createServer((req, res) => {
    if (!backends.length) {
      res.writeHead(503).end('no backend');
      return;
    }
    const b = backends[next++ % backends.length];
    stats.requests++;
    stats.perBackend[b.url] = (stats.perBackend[b.url] ?? 0) + 1;
    const up = http.request({ agent: b.agent, host: b.host, port: b.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode, upRes.rawHeaders);
      upRes.pipe(res);
    });
    up.on('error', (err) => {
      stats.errors++;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${err.message}`);
    });
    // The client went away: drop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 5_000;
  return {
    server,
    setBackends,
    stats,
    listening: new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server.address().port))),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const proxy = startProxy(Number(process.env.PORT || 0));
  const port = await proxy.listening;
  process.on('message', (msg) => {
    if (msg.backends) {
      proxy.setBackends(msg.backends);
      process.send({ id: msg.id, ok: true, backends: msg.backends });
    } else if (msg.stats) process.send({ id: msg.id, stats: proxy.stats });
  });
  process.stdout.write(`${JSON.stringify({ listening: port })}\n`);
  process.once('SIGTERM', () => {
    proxy.server.close(() => process.exit(0));
    proxy.server.closeIdleConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  });
  process.on('disconnect', () => process.exit(0));
}
