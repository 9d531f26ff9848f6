import { createFileLog } from '../../src/log/embedded/file-log.ts';
import { tempDir } from '../helpers/wait.ts';
import { describeEventLogContract } from '../contract/event-log.contract.ts';

describeEventLogContract('embedded file log', async () => {
  const tmp = await tempDir('keyflow-log-');
  // Small segments so the suite also crosses segment boundaries.
  const log = createFileLog({ dataDir: tmp.dir, segmentBytes: 4096, idlePollMs: 200 });
  await log.start();
  return {
    log,
    topicPrefix: 'contract',
    async cleanup() {
      await log.close();
      await tmp.remove();
    },
  };
});
