/**
 * Refuse what was not sealed with SkyRun's key: a workflow started, an update, signal or query
 * sent by a process without the key carries the codec's marker instead of its arguments
 * (worker/runtime/codec.ts). Starts fail at once, non-retryable; updates and queries are
 * rejected with the reason; signals are dropped. Nothing the caller sent reaches a handler.
 */
import {
  ApplicationFailure,
  log,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';
import { unsealedReason } from './contract';

export const REFUSED = 'UnsealedPayload';

function refuse(what: string, reason: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`SkyRun refused ${what}: ${reason}`, REFUSED);
}

// No handler here is `async`: an extra await would move the handler's first commands behind other
// coroutines' in the same activation, and recorded histories would no longer replay.
class RefuseUnsealed implements WorkflowInboundCallsInterceptor {
  execute: WorkflowInboundCallsInterceptor['execute'] = (input, next) => {
    const reason = unsealedReason(input.args);
    return reason ? Promise.reject(refuse('to start this workflow', reason)) : next(input);
  };

  validateUpdate: WorkflowInboundCallsInterceptor['validateUpdate'] = (input, next) => {
    const reason = unsealedReason(input.args);
    if (reason) throw refuse(`the update '${input.name}'`, reason);
    next(input);
  };

  handleUpdate: WorkflowInboundCallsInterceptor['handleUpdate'] = (input, next) => {
    // handlers without a validator get here without validateUpdate
    const reason = unsealedReason(input.args);
    return reason ? Promise.reject(refuse(`the update '${input.name}'`, reason)) : next(input);
  };

  handleSignal: WorkflowInboundCallsInterceptor['handleSignal'] = (input, next) => {
    const reason = unsealedReason(input.args);
    if (!reason) return next(input);
    log.warn(`dropped the signal '${input.signalName}': ${reason}`);
    return Promise.resolve();
  };

  handleQuery: WorkflowInboundCallsInterceptor['handleQuery'] = (input, next) => {
    const reason = unsealedReason(input.args);
    return reason ? Promise.reject(refuse(`the query '${input.queryName}'`, reason)) : next(input);
  };
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new RefuseUnsealed()] });
