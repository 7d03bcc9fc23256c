import { isIP } from 'node:net';

/**
 * Whether a WebAuthn relying-party id can serve pages at `issuerHost`: browsers accept the host
 * itself or a registrable domain it belongs to. Without a public-suffix list, a suffix must keep
 * at least two labels (so "com" is refused). An IP address has no parent domain: only itself.
 */
export function rpIdFitsHost(rpId: string, issuerHost: string): boolean {
  const host = issuerHost.toLowerCase().replace(/^\[|\]$/g, '');
  if (rpId === host) return true;
  if (isIP(host) !== 0) return false;
  return rpId.includes('.') && host.endsWith(`.${rpId}`);
}
