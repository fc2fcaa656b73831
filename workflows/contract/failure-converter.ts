/**
 * How failures travel: their message and stack trace as an encoded attribute, so the payload
 * codec seals them like every other payload (worker/runtime/codec.ts). Loaded by path
 * (`failureConverterPath`) in the client, the worker and the workflow bundle alike.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
