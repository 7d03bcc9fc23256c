/** A request path fit for a log line: the secret a reset link carries in its path is replaced. */
export const loggablePath = (path: string): string => path.replace(/^\/password-reset\/[^/]+/, '/password-reset/:token');
