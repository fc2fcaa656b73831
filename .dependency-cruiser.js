/**
 * The layers, and the only directions they may import in (the README's "Layout" explains them).
 * Runs in the test command: `npm run lint`. Paths are relative to the repository root.
 *
 *   client ──► worker ──► activities ──► activities/infra ──► core
 *     │          │            │                                ▲
 *     │          └► worker/runtime ─────────────────────────────┤
 *     └───────────────────► workflows ──► workflows/contract ───┘
 */
const CORE = '^core/';
const CONTRACT = '^workflows/contract/';
const WORKFLOWS = '^workflows/(?!contract/)';
const INFRA = '^activities/infra/';
const ACTIVITIES = '^activities/(?!infra/)';
const RUNTIME = '^worker/runtime/';
const WORKER = '^worker/(?!runtime/)';
const CLIENT = '^client/';

/** A layer may import only itself and the layers listed (and the npm packages listed). */
function only(name, from, allowed, packages = []) {
  return {
    name: `${name}-imports-only-downward`,
    comment: `${name} may import only: ${allowed.join(', ') || 'itself'}${packages.length ? `; packages: ${packages.join(', ')}` : ''}`,
    severity: 'error',
    from: { path: from },
    to: {
      pathNot: [
        from,
        ...allowed,
        ...packages.map((p) => `(^|/)node_modules/${p.replace(/\/$/, '')}(/|$)`),
        '(^|/)node_modules/@types/',
        // Node's built-ins are judged by the next rule
      ],
      dependencyTypesNot: ['core'],
    },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles, between files or (through them) between folders.',
      severity: 'error',
      from: {},
      to: { circular: true, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'bundle-safe-has-no-node-builtins',
      comment: 'core, the contract and workflows run in the workflow sandbox: no Node built-ins.',
      severity: 'error',
      from: { path: [CORE, CONTRACT, WORKFLOWS] },
      to: { dependencyTypes: ['core'] },
    },
    only('core', CORE, [], ['yaml']),
    only('contract', CONTRACT, [CORE], ['@temporalio/workflow', '@temporalio/common']),
    {
      name: 'workflows-import-activities-as-types-only',
      comment: 'workflows see the activities only as types (proxyActivities<Activities>).',
      severity: 'error',
      from: { path: WORKFLOWS },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
    },
    only(
      'workflows',
      WORKFLOWS,
      [CORE, CONTRACT, '^activities/index\\.ts$'],
      ['@temporalio/workflow', '@temporalio/common'],
    ),
    only(
      'infra',
      INFRA,
      [CORE],
      [
        'yaml',
        'ssh2',
        '@aws-sdk/client-ec2',
        '@aws-sdk/client-s3',
        '@aws-sdk/credential-providers',
        '@smithy/',
        '@google-cloud/compute',
        '@google-cloud/storage',
        'google-auth-library',
        '@kubernetes/client-node',
      ],
    ),
    {
      name: 'infra-is-no-temporal-client',
      comment: 'A provider never acts as a Temporal client: what it needs comes in through its context.',
      severity: 'error',
      from: { path: INFRA },
      to: { path: '(^|/)node_modules/@temporalio/' },
    },
    only(
      'activities',
      ACTIVITIES,
      [CORE, CONTRACT, INFRA],
      ['@temporalio/activity', '@temporalio/client', '@temporalio/common'],
    ),
    only('runtime', RUNTIME, [CORE, CONTRACT, INFRA], ['@temporalio/', 'yaml']),
    only('worker', WORKER, [CORE, CONTRACT, RUNTIME, '^activities/index\\.ts$', INFRA], ['@temporalio/']),
    only(
      'client',
      CLIENT,
      [
        CORE,
        CONTRACT,
        RUNTIME,
        '^activities/infra/inspect\\.ts$',
        '^activities/infra/storage/index\\.ts$',
        '^worker/worker\\.ts$',
        '(^|/)package\\.json$',
      ],
      ['@temporalio/', 'commander', 'yaml'],
    ),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
