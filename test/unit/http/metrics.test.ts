import { describe, expect, it } from '@jest/globals';
import { Metrics } from '../../../src/http/metrics.js';
import { FACTORS } from '../../../src/mfa/factors/index.js';

const signIns = async (metrics: Metrics) => (await metrics.registry.getSingleMetricAsString('twofold_sign_ins_total')).split('\n').filter((l) => !l.startsWith('#'));

describe('sign-in metrics by method', () => {
  it("each factor's successes and failures count under its own label, a passkey's synced amr too", async () => {
    for (const factor of FACTORS) {
      const metrics = new Metrics();
      for (const amr of [factor.amr, ...(factor.otherAmr ?? [])]) metrics.observeAudit('login.succeeded', { amr: ['pwd', amr, 'mfa'] });
      metrics.observeAudit('mfa.failed', { method: factor.kind, failedAttempts: 1 });
      const count = 1 + (factor.otherAmr?.length ?? 0);
      expect(await signIns(metrics)).toEqual(
        expect.arrayContaining([
          `twofold_sign_ins_total{result="success",method="${factor.metricsLabel}"} ${count}`,
          `twofold_sign_ins_total{result="failure",method="${factor.metricsLabel}"} 1`,
        ]),
      );
      expect((await signIns(metrics)).filter((l) => l.includes('method="password"'))).toEqual([]);
    }
  });

  it('a passwordless passkey sign-in (no pwd in amr) is a passkey sign-in', async () => {
    const passkey = FACTORS.find((f) => f.phishingResistant)!;
    const metrics = new Metrics();
    metrics.observeAudit('login.succeeded', { amr: [passkey.otherAmr?.[0] ?? passkey.amr, 'mfa'] });
    expect(await signIns(metrics)).toEqual([`twofold_sign_ins_total{result="success",method="${passkey.metricsLabel}"} 1`]);
  });
});
