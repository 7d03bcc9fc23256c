import type { AuditLog, RequestOrigin } from '../audit/audit-log.js';
import { AppError } from '../http/app-error.js';
import { sessionIsAlive } from '../oidc/find-account.js';
import type { ProviderSession, ProviderSessions } from '../oidc/provider-sessions.js';
import type { SessionIndexEntry, SessionIndexRepository } from '../storage/repositories/session-index-repository.js';
import type { UserAuthState, UsersRepository } from '../storage/repositories/users-repository.js';
import type { User } from '../storage/repositories/users-repository.js';
import { userAgentLabel } from './user-agent-label.js';

/** One row of "Where you're signed in". */
export interface SignedInSession {
  /** The session's public handle (what a Sign out form posts). */
  uid: string;
  browser: string;
  system: string;
  signedInAt: Date;
  lastActiveAt: Date;
  /** The session of the browser asking. */
  current: boolean;
}

/** Sessions looked up at once; a user rarely has more than a few. */
const BATCH = 50;

/**
 * "Where you're signed in": the user's live browser sessions at Twofold, and ending them.
 * The index says which sessions a user had; each is checked against the session record:
 * entries of sessions that are gone or now someone else's are pruned, and sessions dead by a
 * sign-out mark or the MFA rules are not shown.
 */
export class SignedInSessions {
  constructor(
    private readonly index: SessionIndexRepository,
    private readonly sessions: ProviderSessions,
    private readonly users: UsersRepository,
    private readonly audit: AuditLog,
  ) {}

  /** The uid of the browser session whose cookie value is `sessionId`, when it is the user's. */
  async currentUid(userId: string, sessionId: string | undefined): Promise<string | undefined> {
    if (!sessionId) return undefined;
    const session = await this.sessions.findById(sessionId);
    return session?.accountId === userId ? session.uid : undefined;
  }

  /** Whether the user's session `uid` still exists (an app session made through it ends with it). */
  async exists(userId: string, uid: string): Promise<boolean> {
    return (await this.sessions.findByUid(uid))?.accountId === userId;
  }

  /** Live sessions, this browser's first, then the most recently active. */
  async list(user: User, currentUid: string | undefined): Promise<SignedInSession[]> {
    const live = await this.liveSessions(user);
    return live
      .map(({ session, entry }) => ({
        uid: session.uid,
        ...userAgentLabel(entry.userAgent),
        signedInAt: new Date((session.loginTs ?? entry.loginTs) * 1000),
        lastActiveAt: new Date(entry.lastActive * 1000),
        current: session.uid === currentUid,
      }))
      .sort((a, b) => Number(b.current) - Number(a.current) || b.lastActiveAt.getTime() - a.lastActiveAt.getTime());
  }

  /** Ends one of the user's sessions; any other id (someone else's, ended, made up) is not found. */
  async signOut(user: User, uid: string, origin: RequestOrigin): Promise<void> {
    const session = (await this.index.has(user.id, uid)) ? await this.sessions.findByUid(uid) : undefined;
    if (!session || session.accountId !== user.id) {
      if (session) await this.index.remove(user.id, [uid]);
      throw new AppError('not_found', { key: 'sessions.gone' });
    }
    await this.end(user, [session]);
    await this.audit.record('sessions.revoked', {
      accountId: user.accountId,
      subjectUserId: user.id,
      actorUserId: user.id,
      origin,
      details: { scope: 'session', reason: 'signed_out' },
    });
  }

  /** Ends every live session of the user but `currentUid`'s; returns how many. */
  async signOutOthers(user: User, currentUid: string | undefined, origin: RequestOrigin): Promise<number> {
    const others = (await this.liveSessions(user)).map((l) => l.session).filter((s) => s.uid !== currentUid);
    await this.end(user, others);
    await this.audit.record('sessions.revoked', {
      accountId: user.accountId,
      subjectUserId: user.id,
      actorUserId: user.id,
      origin,
      details: { scope: 'other_sessions', reason: 'signed_out', count: others.length },
    });
    return others.length;
  }

  private async end(user: User, sessions: ProviderSession[]): Promise<void> {
    if (sessions.length === 0) return;
    // Marked first: a request of one of them still in flight saves it again afterwards, and
    // that save then finds the mark and ends it once more (sessionTracker).
    const exp = Math.max(Math.floor(Date.now() / 1000) + 1, ...sessions.map((s) => s.exp ?? 0));
    await this.index.markEnded(
      user.id,
      sessions.map((s) => s.uid),
      exp,
    );
    for (let i = 0; i < sessions.length; i += BATCH) await Promise.all(sessions.slice(i, i + BATCH).map((s) => this.sessions.end(s)));
  }

  private async liveSessions(user: User): Promise<{ session: ProviderSession; entry: SessionIndexEntry }[]> {
    const [entries, state] = await Promise.all([this.index.list(user.id), this.users.findAuthState(user.id)]);
    const uids = [...entries.keys()];
    const found: (ProviderSession | undefined)[] = [];
    for (let i = 0; i < uids.length; i += BATCH) found.push(...(await Promise.all(uids.slice(i, i + BATCH).map((uid) => this.sessions.findByUid(uid)))));
    const live: { session: ProviderSession; entry: SessionIndexEntry }[] = [];
    const stale: string[] = [];
    uids.forEach((uid, i) => {
      const session = found[i];
      if (!session || session.accountId !== user.id) stale.push(uid);
      // A session dead by a sign-out mark or policy is hidden, not pruned: its record decides.
      else if (isAlive(state, session)) live.push({ session, entry: entries.get(uid)! });
    });
    await this.index.remove(user.id, stale);
    return live;
  }
}

const isAlive = (state: UserAuthState | undefined, session: ProviderSession) => Boolean(state) && sessionIsAlive(state!, session);
