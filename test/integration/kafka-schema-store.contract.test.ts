/** The schema store on a real Kafka: the single-partition `keyflow.schemas` topic, offsets as positions. */
import { withTopicPrefix } from '../../src/log/index.ts';
import { createLogSchemaStore } from '../../src/schemas/index.ts';
import { describeSchemaStoreContract } from '../contract/schema-store.contract.ts';
import { createKafkaTestLog } from '../helpers/kafka.ts';

describeSchemaStoreContract('Kafka topic', async () => {
  const fx = await createKafkaTestLog();
  const log = withTopicPrefix(fx.log, `${fx.topicPrefix}.`);
  return { open: () => createLogSchemaStore({ log }), cleanup: () => fx.cleanup() };
});
