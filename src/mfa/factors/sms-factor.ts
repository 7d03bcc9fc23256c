export * from './sms/sms-factor.js';
