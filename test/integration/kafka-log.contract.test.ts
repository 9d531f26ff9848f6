import { createKafkaTestLog } from '../helpers/kafka.ts';
import { describeEventLogContract } from '../contract/event-log.contract.ts';

// Runs against the broker of this run: infra/kafka/kafka.sh via the global setup, or KAFKA_BROKERS.
describeEventLogContract('kafka', () => createKafkaTestLog());
