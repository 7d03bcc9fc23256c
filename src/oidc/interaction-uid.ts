/** What an interaction uid (oidc-provider's, or one a page hands back) may look like; anything else names none. */
export const isInteractionUid = (value: unknown): value is string => typeof value === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(value);
