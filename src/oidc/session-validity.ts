/**
 * "Sessions valid after" marks in whole seconds, because oidc-provider's login times are whole
 * seconds: a mark is set to the next second, a session is dead when it logged in before the
 * mark, and a login is stamped no earlier than the mark, so a sign-in finishing in the same
 * second as a sign-out-everywhere survives while every older session dies.
 */
export function signOutMark(now = Date.now()): Date {
  return new Date((Math.floor(now / 1000) + 1) * 1000);
}

export function isBeforeMark(loginTsSeconds: number | undefined, mark: Date | null): boolean {
  if (!mark) return false;
  return (loginTsSeconds ?? 0) < Math.floor(mark.getTime() / 1000);
}

export function loginTimestamp(mark: Date | null, now = Date.now()): number {
  const nowSeconds = Math.floor(now / 1000);
  return mark ? Math.max(nowSeconds, Math.floor(mark.getTime() / 1000)) : nowSeconds;
}
