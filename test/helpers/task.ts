/** Asserting on task validation failures. */
import { TaskValidationError } from '../../core/task';

/**
 * The TaskValidationError `f` throws. Anything else fails the test: a return (the input was
 * accepted) or another error (rethrown, its message shown), so the sentinel is never caught and
 * asserted on by mistake.
 */
export function rejection(f: () => unknown): TaskValidationError {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error('expected a TaskValidationError, but the input was accepted');
  if (!(error instanceof TaskValidationError)) throw error;
  return error;
}
