import { describe, expect, it } from 'vitest';
import { createInProcessBus, createInProcessHub } from '../../src/bus/in-process/in-process-bus.ts';
import { ErrorCode, KeyflowError, hasCode } from '../../src/model/errors.ts';
import { describeLiveBusContract } from '../contract/live-bus.contract.ts';

const quiet = { warn: () => undefined };

describeLiveBusContract('in-process bus (two buses on one hub)', async () => {
  const hub = createInProcessHub();
  const a = createInProcessBus({ hub, logger: quiet });
  const b = createInProcessBus({ hub, logger: quiet });
  await Promise.all([a.start(), b.start()]);
  return {
    a,
    b,
    async cleanup() {
      await Promise.all([a.close(), b.close()]);
    },
  };
});

describe('in-process bus specifics', () => {
  it('matches NATS wildcards when subscribing', async () => {
    const bus = createInProcessBus({ logger: quiet });
    await bus.start();
    const star: string[] = [];
    const tail: string[] = [];
    bus.subscribe('keyflow.windows.*', (m) => star.push(m as string));
    bus.subscribe('keyflow.>', (m) => tail.push(m as string));
    bus.publish('keyflow.windows.iot_sensor', 'w');
    bus.publish('keyflow.events.a.b', 'e');
    bus.publish('other.windows.x', 'no');
    expect(star).toEqual(['w']);
    expect(tail).toEqual(['w', 'e']);
    await bus.close();
  });

  it('passes a responder KeyflowError through and shares load round-robin', async () => {
    const bus = createInProcessBus({ logger: quiet });
    await bus.start();
    const off1 = bus.respond('q', async () => 1);
    const off2 = bus.respond('q', async () => 2);
    const answers = [await bus.request('q', null, 100), await bus.request('q', null, 100), await bus.request('q', null, 100)];
    expect(answers.sort()).toEqual([1, 1, 2]);
    off1();
    off2();
    bus.respond('bad', async () => {
      throw new KeyflowError(ErrorCode.NOT_OWNER, 'moved');
    });
    const err = await bus.request('bad', null, 100).catch((e: unknown) => e);
    expect(hasCode(err, ErrorCode.NOT_OWNER)).toBe(true);
    await bus.close();
  });

  it('close removes the bus subscriptions from a shared hub', async () => {
    const hub = createInProcessHub();
    const a = createInProcessBus({ hub, logger: quiet });
    const b = createInProcessBus({ hub, logger: quiet });
    const got: unknown[] = [];
    b.subscribe('s', (m) => got.push(m));
    await b.close();
    a.publish('s', 1);
    expect(got).toEqual([]);
    await a.close();
  });
});
