import { randomUUID } from 'node:crypto';
import { createNatsBus } from '../../src/bus/nats/nats-bus.ts';
import { assertReachable, hostPortOf, requireNats } from '../helpers/services.ts';
import { describeLiveBusContract } from '../contract/live-bus.contract.ts';

describeLiveBusContract('NATS bus (two connections)', async () => {
  const { url } = requireNats();
  // A missing NATS fails the suite here, loudly, instead of skipping it.
  await assertReachable('NATS', hostPortOf(url, 4222));
  // A unique prefix per run, so concurrent runs on one server never see each other's subjects.
  const prefix = `kft-${randomUUID().slice(0, 8)}`;
  const a = createNatsBus({ servers: url, prefix, name: 'keyflow-contract-a' });
  const b = createNatsBus({ servers: url, prefix, name: 'keyflow-contract-b' });
  await Promise.all([a.start(), b.start()]);
  return {
    a,
    b,
    async cleanup() {
      await Promise.all([a.close(), b.close()]);
    },
  };
});
