/** Bundle the workflow code once at build time, so workers start without webpack. */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

async function main() {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    // refuses what is not sealed with SkyRun's key (replay and every worker get it from the bundle)
    workflowInterceptorModules: [require.resolve('../workflows/interceptors')],
    // failure messages travel as encoded (sealed) attributes
    failureConverterPath: require.resolve('../workflows/contract/failure-converter'),
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error } as never,
  });
  writeFileSync(path.join(__dirname, '..', 'workflow-bundle.js'), code);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
