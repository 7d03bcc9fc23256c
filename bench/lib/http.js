// A small HTTP/1.1 client for the load generator: node:http with a keep-alive agent, manual
// redirects and a cookie jar per virtual user (one browser). No dependencies.
import http from 'node:http';

const REQUEST_TIMEOUT_MS = 15_000;

/** A keep-alive agent; the load generator makes a new one per load step and destroys it after. */
export function newAgent(maxSockets = 256) {
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
  agent.open = new Set();
  agent.closed = false;
  return agent;
}

/**
 * Ends everything of an agent: requests still queued or running are torn down and later ones
 * refused, so an operation left over from one load step can never send a request (or keep a
 * token it got) during the next one.
 */
export function closeAgent(agent) {
  agent.closed = true;
  for (const req of agent.open) req.destroy(new Error('the load step ended'));
  agent.open.clear();
  agent.destroy();
}

/**
 * One request. Resolves { status, headers, body } (body only when wanted, else drained).
 * Rejects on network errors and after REQUEST_TIMEOUT_MS.
 */
export function request(agent, url, options = {}) {
  if (!observer) return send(agent, url, options);
  const u = typeof url === 'string' ? new URL(url) : url;
  return observer(options.method ?? 'GET', u, () => send(agent, u, options));
}

let observer = null;
/** Every request goes through `fn(method, url, send)` (the step-cost mode measures each one); null to stop. */
export function observeRequests(fn) {
  observer = fn;
}

function send(agent, url, { method = 'GET', headers = {}, body, wantBody = true } = {}) {
  return new Promise((resolve, reject) => {
    if (agent.closed) {
      reject(new Error('the load step ended'));
      return;
    }
    const u = typeof url === 'string' ? new URL(url) : url;
    const h = { ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    const req = http.request({ agent, host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h }, (res) => {
      if (!wantBody) {
        res.on('data', () => {});
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: '' }));
      } else {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      }
      res.on('error', reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`timeout after ${REQUEST_TIMEOUT_MS} ms: ${method} ${u.pathname}`)));
    req.on('error', reject);
    agent.open?.add(req);
    req.on('close', () => agent.open?.delete(req));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Cookies of one browser for one host, keyed by name and path (RFC 6265 path matching). */
export class CookieJar {
  constructor() {
    this.cookies = new Map();
  }

  header(pathname) {
    const matches = (p) => pathname === p || (pathname.startsWith(p) && (p.endsWith('/') || pathname[p.length] === '/'));
    const list = [];
    for (const c of this.cookies.values()) if (matches(c.path)) list.push(c);
    list.sort((a, b) => b.path.length - a.path.length);
    return list.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  store(pathname, setCookie) {
    if (!setCookie) return;
    for (const line of setCookie) {
      const parts = line.split(';');
      const pair = parts[0];
      const idx = pair.indexOf('=');
      const name = pair.slice(0, idx).trim();
      const value = pair.slice(idx + 1).trim();
      let path;
      for (let i = 1; i < parts.length; i++) {
        const a = parts[i].trim();
        if (/^path=/i.test(a)) path = a.slice(5);
      }
      if (!path || !path.startsWith('/')) path = pathname.slice(0, pathname.lastIndexOf('/')) || '/';
      const key = `${name};${path}`;
      if (!value || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(key);
      else this.cookies.set(key, { name, value, path });
    }
  }
}

/**
 * A virtual user: a cookie jar, and requests that follow redirects until `stopAt(url)`.
 * Returns the final page { url, status, body } (status 0 = stopped at the relying party).
 */
export class Browser {
  constructor(agent, stopAt) {
    this.agent = agent;
    this.stopAt = stopAt;
    this.jar = new CookieJar();
    this.requests = 0;
  }

  async go(input, { form, headers } = {}) {
    let url = new URL(input);
    let method = form ? 'POST' : 'GET';
    let body = form ? new URLSearchParams(form).toString() : undefined;
    for (let hops = 0; hops < 10; hops++) {
      if (this.stopAt(url)) return { url, status: 0, body: '' };
      const h = { accept: 'text/html', cookie: this.jar.header(url.pathname), ...headers };
      if (body !== undefined) h['content-type'] = 'application/x-www-form-urlencoded';
      this.requests++;
      const res = await request(this.agent, url, { method, headers: h, body });
      this.jar.store(url.pathname, res.headers['set-cookie']);
      const location = res.headers.location;
      if (res.status >= 300 && res.status < 400 && location) {
        url = new URL(location, url);
        method = 'GET';
        body = undefined;
        continue;
      }
      return { url, status: res.status, body: res.body };
    }
    throw new Error('too many redirects');
  }
}

export function decodeEntities(s) {
  return s
    .replace(/&#x2F;/g, '/')
    .replace(/&#x3D;/g, '=')
    .replace(/&#61;/g, '=')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#34;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The action of the form whose action path ends with `suffix`. */
export function formAction(page, suffix) {
  for (const m of page.body.matchAll(/<form[^>]*action="([^"]+)"/g)) {
    const action = decodeEntities(m[1]);
    if (action.split('?')[0].endsWith(suffix)) return new URL(action, page.url).toString();
  }
  throw new Error(`no form ending with ${suffix} on ${page.url} (status ${page.status}): ${page.body.slice(0, 300).replace(/\s+/g, ' ')}`);
}

export function csrfToken(page) {
  const m = page.body.match(/name="_csrf" value="([^"]+)"/);
  if (!m) throw new Error(`no CSRF token on ${page.url} (status ${page.status}): ${page.body.slice(0, 300).replace(/\s+/g, ' ')}`);
  return decodeEntities(m[1]);
}

/** Submits the form ending with `suffix` on `page` with its CSRF token. */
export function submit(browser, page, suffix, fields = {}) {
  return browser.go(formAction(page, suffix), { form: { _csrf: csrfToken(page), ...fields } });
}
