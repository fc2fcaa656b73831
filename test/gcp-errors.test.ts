/**
 * GCP's errors mapped to SkyRun's taxonomy (activities/infra/clouds/gcp/errors.ts), one row per
 * shape Compute Engine answers with, and why that class: what failover then blocks is decided
 * by the class (core/errors.ts scopeOf).
 */
import type { ErrorClass } from '../core/errors';
import { gcpError } from '../activities/infra/clouds/gcp';

const op = (code: string, message = 'x') => ({ errors: [{ code, message }] });
const http = (status: number, reason: string | undefined, message: string) => ({
  response: { status, data: { error: { ...(reason ? { errors: [{ reason }] } : {}), message } } },
});

const ROWS: Array<[string, unknown, ErrorClass, string]> = [
  // capacity: the zone cannot host it now or at all; the next zone may
  ['zone exhausted', op('ZONE_RESOURCE_POOL_EXHAUSTED'), 'capacity', 'no room in this zone now'],
  ['zone exhausted, detailed', op('ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS'), 'capacity', 'same, with details'],
  ['resource not available', op('UNSUPPORTED_OPERATION'), 'capacity', 'spot/GPU stock-out in this zone'],
  [
    'machine type not in the zone',
    http(
      400,
      'invalid',
      "Invalid value for field 'resource.machineType': 'zones/us-central1-f/machineTypes/c3-standard-4'. Machine type with name 'c3-standard-4' does not exist in zone 'us-central1-f'.",
    ),
    'capacity',
    'this zone lacks the type; others have it (was invalid: stopped the launch)',
  ],
  [
    'accelerator type not in the zone',
    http(400, 'invalid', "Accelerator type 'nvidia-l4' does not exist in zone 'us-west1-c'."),
    'capacity',
    'this zone lacks the GPU',
  ],
  // quota: per region, or for the whole project
  [
    'regional quota',
    op('QUOTA_EXCEEDED', "Quota 'CPUS' exceeded. Limit: 24.0 in region us-central1."),
    'quota-region',
    'another region has its own quota',
  ],
  [
    'global GPU quota',
    op('QUOTA_EXCEEDED', "Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally."),
    'quota-cloud',
    'no region helps',
  ],
  ['quota in an HTTP error', http(403, 'quotaExceeded', "Quota 'NVIDIA_L4_GPUS' exceeded."), 'quota-region', 'same'],
  // transient: retried in place
  ['rate limit', op('RESOURCE_OPERATION_RATE_EXCEEDED'), 'transient', 'slow down and retry'],
  ['server error', http(503, undefined, 'down'), 'transient', '5xx'],
  [
    'connection refused',
    Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    'transient',
    'network',
  ],
  // auth / config: the whole cloud
  ['bad token', http(401, undefined, 'bad token'), 'auth', 'credentials'],
  ['permission', http(403, 'forbidden', "Required 'compute.instances.create' permission"), 'auth', 'IAM'],
  ['API disabled', http(403, 'accessNotConfigured', 'Compute Engine API has not been used'), 'config', 'project setup'],
  // invalid: no zone or retry can fix it
  [
    'boot disk type refused by the series',
    http(400, 'badRequest', '[pd-standard, n4-standard-2] features are not compatible for creating instance.'),
    'invalid',
    'the same in every zone (was capacity when in an operation: retry_until_up looped forever)',
  ],
  [
    'boot disk type refused, as an operation error',
    op(
      'UNSUPPORTED_OPERATION',
      '[pd-extreme] features and [instance_type: ...] InstanceTaxonomies are not compatible for creating instance',
    ),
    'invalid',
    'a disk message wins over the stock-out code',
  ],
  [
    'bad field',
    http(400, 'invalid', "Invalid value for field 'resource.name': 'X'"),
    'invalid',
    'a request that cannot work',
  ],
  ['anything else', new Error('something else'), 'unknown', 'blocks the zone, like capacity'],
];

test.each(ROWS)('%s', (_name, error, cls) => {
  expect(gcpError(error).errorClass).toBe(cls);
});
