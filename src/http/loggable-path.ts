/** A request path as it may be logged: the token of a link (email verification, password reset) is cut out. */
export const loggablePath = (path: string): string => path.replace(/^(\/account\/email\/verify|\/password-reset)\/[^/]+/, '$1/[token]');
