/**
 * The marker a payload that is not sealed with SkyRun's key decodes to (see
 * worker/runtime/codec.ts); workflows/interceptors.ts refuses any call that carries one.
 */
export const UNSEALED = '__skyrunUnsealed';

/** The reason, when `value` is (or holds, one level down) the marker. */
export function unsealedReason(values: unknown[]): string | undefined {
  for (const v of values) {
    if (v && typeof v === 'object' && UNSEALED in v) return String((v as Record<string, unknown>)[UNSEALED]);
  }
  return undefined;
}
