export * from './totp/totp-factor.js';
