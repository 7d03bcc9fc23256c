/**
 * A short-lived, in-process cache of client metadata: oidc-provider looks a client up several
 * times per sign-in (authorization, resume, token), and clients change rarely. Only hits are
 * cached, so a client created a moment ago is found at once; a change reaches every process
 * within `ttlMs`.
 */
export function cachedLookup<T>(lookup: (id: string) => Promise<T | undefined>, ttlMs = 10_000, maxEntries = 1000) {
  const entries = new Map<string, { value: T; expires: number }>();
  return async (id: string): Promise<T | undefined> => {
    const hit = entries.get(id);
    if (hit && hit.expires > Date.now()) return hit.value;
    const value = await lookup(id);
    if (value === undefined) return undefined;
    if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
    entries.set(id, { value, expires: Date.now() + ttlMs });
    return value;
  };
}
