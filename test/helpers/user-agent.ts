/**
 * A minimal browser for HTTP-level end-to-end tests: a cookie jar, manual redirects, and
 * helpers to read our hosted forms (action + CSRF token). The real browser suite uses Chromium.
 */
export interface Page {
  url: string;
  status: number;
  html: string;
  headers: Headers;
}

export class UserAgent {
  /** Per host: cookies keyed by name and path (a browser keeps `a` for /x and `a` for /y apart). */
  private readonly jar = new Map<string, Map<string, { name: string; value: string; path: string }>>();
  /** Headers sent with every request (e.g. X-Forwarded-For, to give this agent its own IP). */
  headers: Record<string, string> = {};
  /**
   * Where a request is really sent: a load balancer in front of several processes that share
   * one ISSUER. Cookies and redirects follow the URL as addressed, as in a browser.
   */
  route: (url: URL) => URL = (url) => url;

  constructor(private readonly stopAt: (url: URL) => boolean = () => false) {}

  /** The cookies a browser sends to `url`: the host's, whose path matches, longest path first. */
  private cookieHeader(url: URL): string {
    const matches = (path: string) => url.pathname === path || (url.pathname.startsWith(path) && (path.endsWith('/') || url.pathname[path.length] === '/'));
    return [...(this.jar.get(url.host) ?? new Map()).values()]
      .filter((c) => matches(c.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  private store(url: URL, headers: Headers): void {
    const jar = this.jar.get(url.host) ?? new Map<string, { name: string; value: string; path: string }>();
    for (const line of headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const idx = pair!.indexOf('=');
      const name = pair!.slice(0, idx).trim();
      const value = pair!.slice(idx + 1).trim();
      // RFC 6265 5.2.4 / 5.1.4: the Path attribute, else the directory of the request path.
      const pathAttr = attributes
        .map((a) => a.trim())
        .find((a) => /^path=/i.test(a))
        ?.slice(5);
      const dir = url.pathname.slice(0, url.pathname.lastIndexOf('/'));
      const path = pathAttr?.startsWith('/') ? pathAttr : dir || '/';
      const key = `${name};${path}`;
      if (!value || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(key);
      else jar.set(key, { name, value, path });
    }
    this.jar.set(url.host, jar);
  }

  clearCookies(): void {
    this.jar.clear();
  }

  /** The Cookie header this agent would send to `url` (for hand-built requests). */
  cookiesFor(url: string): string {
    return this.cookieHeader(new URL(url));
  }

  /** Requests and follows redirects; stops (without requesting) at a URL `stopAt` accepts. */
  async request(input: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Page> {
    let url = new URL(input);
    let method = init.method ?? (init.form ? 'POST' : 'GET');
    let body: string | undefined = init.form ? new URLSearchParams(init.form).toString() : undefined;
    for (let hops = 0; hops < 20; hops++) {
      if (this.stopAt(url)) return { url: url.toString(), status: 0, html: '', headers: new Headers() };
      const res = await fetch(this.route(url), {
        method,
        redirect: 'manual',
        headers: {
          ...this.headers,
          cookie: this.cookieHeader(url),
          accept: 'text/html',
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...init.headers,
        },
        body,
      });
      this.store(url, res.headers);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        url = new URL(location, url);
        method = 'GET';
        body = undefined;
        await res.arrayBuffer();
        continue;
      }
      return { url: url.toString(), status: res.status, html: await res.text(), headers: res.headers };
    }
    throw new Error('too many redirects');
  }

  /** Submits the form whose action ends with `actionSuffix` on `page`, with its CSRF token. */
  async submit(page: Page, actionSuffix: string, fields: Record<string, string> = {}): Promise<Page> {
    const action = formAction(page, actionSuffix);
    return this.request(new URL(action, page.url).toString(), { form: { _csrf: csrfToken(page), ...fields } });
  }
}

export function formAction(page: Page, actionSuffix: string): string {
  const actions = [...page.html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((m) => decodeEntities(m[1]!));
  const action = actions.find((a) => a.split('?')[0]!.endsWith(actionSuffix));
  if (!action) throw new Error(`no form ending with ${actionSuffix} on ${page.url} (status ${page.status}); forms: ${actions.join(', ')}\n${page.html.slice(0, 3000)}`);
  return action;
}

export function csrfToken(page: Page): string {
  const m = page.html.match(/name="_csrf" value="([^"]+)"/);
  if (!m) throw new Error(`no CSRF token on ${page.url}`);
  return m[1]!;
}

export function decodeEntities(s: string): string {
  return s
    .replace(/&amp;/g, '&')
    .replace(/&#x2F;/g, '/')
    .replace(/&#x3D;/g, '=')
    .replace(/&#61;/g, '=')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#34;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

/** The otpauth:// URI shown on the enrolment page. */
export function otpauthUri(page: Page): string {
  const m = page.html.match(/href="(otpauth:\/\/[^"]+)"/);
  if (!m) throw new Error(`no otpauth link on ${page.url}`);
  return decodeEntities(m[1]!);
}

/** Every hidden input of the page (for oidc-provider's own forms such as the logout confirm). */
export function hiddenFields(page: Page): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of page.html.matchAll(/<input[^>]*type="hidden"[^>]*>/g)) {
    const name = m[0].match(/name="([^"]+)"/)?.[1];
    const value = m[0].match(/value="([^"]*)"/)?.[1] ?? '';
    if (name) fields[name] = decodeEntities(value);
  }
  return fields;
}
