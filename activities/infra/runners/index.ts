import type { RunnerSpec } from '../../../core/cluster';
import { LocalRunner } from './local';
import type { Runner } from './runner';

export function runnerFor(spec: RunnerSpec): Runner {
  switch (spec.kind) {
    case 'local':
      return new LocalRunner(spec.root);
    case 'ssh': {
      // loaded on first use: ssh2 adds ~50 ms to the start of a CLI that never needs it
      const { SshRunner } = require('./ssh') as typeof import('./ssh');
      return new SshRunner(spec);
    }
    case 'kube': {
      // loaded on first use, as ssh2 is: the kubernetes client is large
      const { KubeRunner } = require('./kube') as typeof import('./kube');
      return new KubeRunner(spec);
    }
  }
}
