/**
 * Recorded workflow histories replay against today's workflow code: a change that would break
 * running workflows (non-determinism) fails here. Record new ones with
 * `temporal workflow show -w <id> --output json > test/histories/<name>.json`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { REPO } from './helpers/skyrun';

Runtime.install({ logger: new DefaultLogger('WARN') });

const dir = path.join(REPO, 'test', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('there are recorded histories to replay', () => {
  expect(files.length).toBeGreaterThanOrEqual(2);
});

test.each(files)('%s replays without non-determinism', async (file) => {
  const history = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  await Worker.runReplayHistory(
    { workflowBundle: { codePath: path.join(REPO, 'dist', 'workflow-bundle.js') } },
    history,
    `replay-${file}`,
  );
});
