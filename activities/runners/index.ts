import type { RunnerSpec } from '../../core/cluster';
import { LocalRunner } from './local';
import type { Runner } from './runner';

export function runnerFor(spec: RunnerSpec): Runner {
  switch (spec.kind) {
    case 'local':
      return new LocalRunner(spec.root);
  }
}
