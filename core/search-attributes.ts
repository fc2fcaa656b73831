/** SkyRun's search attributes: set on every workflow so the Temporal UI and CLI can filter. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SA = {
  SkyrunKind: defineSearchAttributeKey('SkyrunKind', SearchAttributeType.KEYWORD),
  ClusterName: defineSearchAttributeKey('ClusterName', SearchAttributeType.KEYWORD),
  Cloud: defineSearchAttributeKey('Cloud', SearchAttributeType.KEYWORD),
  Region: defineSearchAttributeKey('Region', SearchAttributeType.KEYWORD),
  Phase: defineSearchAttributeKey('Phase', SearchAttributeType.KEYWORD),
  Spot: defineSearchAttributeKey('Spot', SearchAttributeType.BOOL),
  HourlyPrice: defineSearchAttributeKey('HourlyPrice', SearchAttributeType.DOUBLE),
  Recoveries: defineSearchAttributeKey('Recoveries', SearchAttributeType.INT),
  User: defineSearchAttributeKey('User', SearchAttributeType.KEYWORD),
} as const;

/** Name=Type pairs, as `temporal server start-dev --search-attribute` takes them. */
export const SEARCH_ATTRIBUTE_FLAGS: string[] = [
  'SkyrunKind=Keyword',
  'ClusterName=Keyword',
  'Cloud=Keyword',
  'Region=Keyword',
  'Phase=Keyword',
  'Spot=Bool',
  'HourlyPrice=Double',
  'Recoveries=Int',
  'User=Keyword',
];

export const TASK_QUEUE = 'skyrun';

export function clusterWorkflowId(name: string): string {
  return `cluster/${name}`;
}

export function managedJobWorkflowId(id: number): string {
  return `managed-job/${id}`;
}
