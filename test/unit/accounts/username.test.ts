import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { newUsername, usernameKeyOf } from '../../../src/accounts/username.js';

describe('canonical usernames', () => {
  it('keeps a new username as typed and keys it by its ASCII lower case', () => {
    expect(newUsername('  Admin@Example.com ')).toEqual({ username: 'Admin@Example.com', key: 'admin@example.com' });
    expect(newUsername('user-1.x_y+z')).toEqual({ username: 'user-1.x_y+z', key: 'user-1.x_y+z' });
  });

  it.each([
    ['dotted capital I', 'ADMİN@example.com'],
    ['fullwidth letters', 'ａｄｍｉｎ@example.com'],
    ['combining marks', 'a\u0301dmin@example.com'],
    ['a Kelvin sign', '\u212Aate'],
    ['a long s and a ligature', '\u017Fta\uFB00'],
    ['a new username that is not ASCII', 'jos\u00e9'],
    ['a leading dot', '.admin'],
    ['an empty one', '   '],
    ['a space inside', 'ad min'],
  ])('refuses %s at creation with one clear message', (_, input) => {
    expect(() => newUsername(input)).toThrow(/Username must be 1-200 ASCII characters/);
  });

  it.each([
    ['ADMİN@example.com'],
    ['ａｄｍｉｎ＠ｅｘａｍｐｌｅ．ｃｏｍ'],
    ['ＡＤＭＩＮ@example.com'],
    ['a\u0301d\u0300mi\u0308n@example.com'],
    ['AdMiN@ExAmPlE.CoM'],
    ['  admin@example.com  '],
  ])('folds the look-alike %j to the key of admin@example.com', (input) => {
    expect(usernameKeyOf(input)).toBe('admin@example.com');
  });

  it('folds compatibility characters to their letters', () => {
    expect(usernameKeyOf('\u212Aate')).toBe('kate');
    expect(usernameKeyOf('\u017Fta\uFB00')).toBe('staff');
  });

  it('folds without regard to the locale: a Turkish dotless i is no "i", a capital I always is', () => {
    expect(usernameKeyOf('ADMIN')).toBe('admin');
    expect(usernameKeyOf('admın')).toBeNull();
  });

  it.each([['jos\u00df'], ['\u0430dmin'], ['ad\u200dmin'], ['ad\u00admin'], ['ad min'], ['.admin'], [''], ['x'.repeat(201)], ['\u0301\u0301']])(
    'gives no key for %j, which names no valid username',
    (input) => {
      expect(usernameKeyOf(input)).toBeNull();
    },
  );

  it('every valid username is its own key, in any case (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,40}$/), (name) => {
        const { key } = newUsername(name);
        expect(usernameKeyOf(name)).toBe(key);
        expect(usernameKeyOf(name.toUpperCase())).toBe(key);
        expect(usernameKeyOf(key)).toBe(key);
      }),
    );
  });

  it('a key is always a valid username, whatever the input (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (input) => {
        const key = usernameKeyOf(input);
        if (key !== null) expect(newUsername(key).key).toBe(key);
      }),
    );
  });
});
