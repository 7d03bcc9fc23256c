import { afterAll, afterEach, beforeAll, beforeEach, describe, expect } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './databases.js';
import { clusterSecrets, REDIS_URL, ROOT, startTwofold, type TwofoldProcess } from './twofold-server.js';

/** Debian's chromium (`apt-get install -y chromium`); playwright cannot download browsers here. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_MISSING = `Chromium is missing: apt-get install -y chromium (see README). Looked for ${CHROMIUM_PATH}.`;
export const SCREENSHOT_DIR = path.join(ROOT, 'test-artifacts', 'screenshots');

export const chromiumAvailable = fs.existsSync(CHROMIUM_PATH);

/**
 * `describe` for browser suites. Without Chromium: under CI this throws (the suite fails with
 * the install hint); on a developer machine the suite is reported as skipped, loudly.
 */
export function browserDescribe(): typeof describe {
  if (chromiumAvailable) return describe;
  if (process.env.CI) throw new Error(CHROMIUM_MISSING);
  console.warn(`\n\n*** BROWSER TESTS SKIPPED *** ${CHROMIUM_MISSING} (CI is unset, so this is a skip, not a failure.)\n\n`);
  return describe['skip'] as typeof describe;
}

export interface LaunchedBrowser {
  browser: Browser;
  /** A fresh, isolated context (own cookies) per test. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

/**
 * Launches headless Debian Chromium. `chromium.launch` gives every launch a fresh temporary
 * user data dir of its own (and refuses a `--user-data-dir` argument), removed on close.
 */
export async function launchBrowser(): Promise<LaunchedBrowser> {
  if (!chromiumAvailable) throw new Error(CHROMIUM_MISSING);
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  return {
    browser,
    newContext: () => browser.newContext({ viewport: { width: 1024, height: 768 }, locale: 'en-GB' }),
    async close() {
      await browser.close().catch(() => undefined);
    },
  };
}

/** Writes `test-artifacts/screenshots/<name>.png` (full page) and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name.replace(/[^a-zA-Z0-9._-]/g, '_')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export interface BrowserSuite {
  readonly db: TestDatabase;
  readonly server: TwofoldProcess;
  /** This test's browser (its own cookies); closed after the test. */
  readonly context: BrowserContext;
  /** Another browser for this test (a second user, a second device); closed after the test. */
  newContext(): Promise<BrowserContext>;
  /** Console errors and uncaught errors of this test's pages: must be empty when it ends. */
  readonly problems: string[];
}

/**
 * The hooks every browser suite needs, registered in the calling `describe`: a database, a
 * Twofold with the demo relying party (plus `env`), one Chromium, a fresh context per test, and
 * the check that no page logged a problem. The server's log is kept as
 * `test-artifacts/<serverLog>.log`.
 */
export function browserSuite(options: { database: string; serverLog: string; env?: () => Promise<Record<string, string>>; after?: () => Promise<void> }): BrowserSuite {
  let db: TestDatabase | undefined;
  let server: TwofoldProcess | undefined;
  let browser: LaunchedBrowser | undefined;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  const suite: BrowserSuite = {
    get db() {
      return db!;
    },
    get server() {
      return server!;
    },
    get context() {
      return contexts[0]!;
    },
    async newContext() {
      const context = await browser!.newContext();
      contexts.push(context);
      return context;
    },
    problems,
  };

  beforeAll(async () => {
    db = await createTestDatabase(options.database);
    const extra = (await options.env?.()) ?? {};
    // A suite may choose the port (its ISSUER names it, as WebAuthn's origin must).
    server = await startTwofold({ DATABASE_URL: db.url, REDIS_URL, DEMO: 'true', ...clusterSecrets(), ...extra }, { port: extra.PORT ? Number(extra.PORT) : undefined });
    browser = await launchBrowser();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (server) {
      fs.mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
      fs.writeFileSync(path.join(ROOT, 'test-artifacts', `${options.serverLog}.log`), server.output());
    }
    await options.after?.();
    await db?.drop();
  });

  beforeEach(async () => {
    problems.length = 0;
    await suite.newContext();
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
    // No CSP violations, script errors or failed resources on any page the test reached.
    expect(problems).toEqual([]);
  });

  return suite;
}
