/** Browser and system of a User-Agent header, as a person would name them ("Firefox 133", "Windows"). */
export interface UserAgentLabel {
  browser: string;
  system: string;
}

// Order matters: most browsers also claim to be Chrome, Safari or Mozilla, so the specific
// tokens come first.
/** Pattern whose first group is the major version, the name, and a token that must also be present. */
const BROWSERS: [RegExp, string, RegExp?][] = [
  [/\bEdg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
  [/\b(?:OPR|Opera)\/(\d+)/, 'Opera'],
  [/\bSamsungBrowser\/(\d+)/, 'Samsung Internet'],
  [/\bVivaldi\/(\d+)/, 'Vivaldi'],
  [/\b(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
  [/\bHeadlessChrome\/(\d+)/, 'Chrome (headless)'],
  [/\b(?:Chrome|CriOS)\/(\d+)/, 'Chrome'],
  // Safari names its version in Version/ and itself in Safari/ (checked apart: one pattern
  // spanning both would backtrack on hostile headers).
  [/\bVersion\/(\d+)/, 'Safari', /\bSafari\//],
];

/** Headers are cut to this before any pattern runs (the stored ones are no longer anyway). */
const MAX_LENGTH = 300;

const SYSTEMS: [RegExp, string][] = [
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

export function userAgentLabel(header: string): UserAgentLabel {
  const userAgent = header.slice(0, MAX_LENGTH);
  let browser = 'Unknown browser';
  for (const [pattern, name, also] of BROWSERS) {
    const m = userAgent.match(pattern);
    if (m && (!also || also.test(userAgent))) {
      browser = `${name} ${m[1]}`;
      break;
    }
  }
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1] ?? 'Unknown system';
  return { browser, system };
}
