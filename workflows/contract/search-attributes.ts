/**
 * SkyRun's search attributes: set on every workflow so the Temporal UI and CLI can filter. This
 * is the one list; the dev server's flags and a production namespace's registration derive from it.
 */
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

/** The names the `temporal` CLI uses for each type (`--search-attribute Name=Type`). */
const CLI_TYPE_NAMES: Record<string, string> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.INT]: 'Int',
};

/** Name=Type pairs, as `temporal server start-dev --search-attribute` takes them. */
export const SEARCH_ATTRIBUTE_FLAGS: string[] = Object.values(SA).map((k) => `${k.name}=${CLI_TYPE_NAMES[k.type]}`);
