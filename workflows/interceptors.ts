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

class RefuseUnsealed implements WorkflowInboundCallsInterceptor {
  execute: WorkflowInboundCallsInterceptor['execute'] = async (input, next) => {
    const reason = unsealedReason(input.args);
    if (reason) throw refuse('to start this workflow', reason);
    return next(input);
  };

  validateUpdate: WorkflowInboundCallsInterceptor['validateUpdate'] = (input, next) => {
    const reason = unsealedReason(input.args);
    if (reason) throw refuse(`the update '${input.name}'`, reason);
    next(input);
  };

  handleUpdate: WorkflowInboundCallsInterceptor['handleUpdate'] = async (input, next) => {
    // handlers without a validator get here without validateUpdate
    const reason = unsealedReason(input.args);
    if (reason) throw refuse(`the update '${input.name}'`, reason);
    return next(input);
  };

  handleSignal: WorkflowInboundCallsInterceptor['handleSignal'] = async (input, next) => {
    const reason = unsealedReason(input.args);
    if (reason) {
      log.warn(`dropped the signal '${input.signalName}': ${reason}`);
      return;
    }
    return next(input);
  };

  handleQuery: WorkflowInboundCallsInterceptor['handleQuery'] = async (input, next) => {
    const reason = unsealedReason(input.args);
    if (reason) throw refuse(`the query '${input.queryName}'`, reason);
    return next(input);
  };
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new RefuseUnsealed()] });
