/** SkyRun's search attributes registered on a namespace that lacks them (production servers). */
import type { Connection } from '@temporalio/client';
import { SA } from '../../workflows/contract';

type OperatorService = Pick<Connection['operatorService'], 'listSearchAttributes' | 'addSearchAttributes'>;

/** The operator API's IndexedValueType numbers for each search attribute type. */
const INDEXED_VALUE_TYPES: Record<string, number> = { KEYWORD: 2, INT: 3, DOUBLE: 4, BOOL: 5 };

/** Adds the ones the namespace lacks; returns their names (throws what the server answers). */
export async function registerSearchAttributes(operator: OperatorService, namespace: string): Promise<string[]> {
  const existing = await operator.listSearchAttributes({ namespace });
  const missing: Record<string, number> = {};
  for (const k of Object.values(SA)) {
    if (!(k.name in (existing.customAttributes ?? {}))) missing[k.name] = INDEXED_VALUE_TYPES[k.type]!;
  }
  if (Object.keys(missing).length) await operator.addSearchAttributes({ namespace, searchAttributes: missing });
  return Object.keys(missing);
}
