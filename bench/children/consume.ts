/**
 * The client ceiling: a bare kafkajs consumer (eachBatch, no decoding, no processing) reading a
 * topic from the beginning in a fresh group. `{type:'stats', consumed}` every 100 ms.
 *   node --import tsx bench/children/consume.ts <brokers> <topic> <groupId>
 */
import { Kafka, logLevel } from 'kafkajs';
import { onParentStop, tell } from '../lib/child.ts';

const [brokers = '127.0.0.1:9092', topic = '', groupId = ''] = process.argv.slice(2);
const kafka = new Kafka({ clientId: 'keyflow-bench-ceiling', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
// the same fetch settings as the keyflow Kafka adapter's defaults (maxWaitTimeInMs 500)
const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
let consumed = 0;
await consumer.connect();
await consumer.subscribe({ topics: [topic], fromBeginning: true });
await consumer.run({
  eachBatchAutoResolve: true,
  eachBatch: async ({ batch }) => {
    consumed += batch.messages.length;
  },
});
const timer = setInterval(() => tell({ type: 'stats', processed: consumed, at: Date.now() }), 100);
onParentStop(async () => {
  clearInterval(timer);
  await consumer.disconnect();
});
tell({ type: 'ready' });
