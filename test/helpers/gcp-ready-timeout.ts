/**
 * Imported first by gcp tests that expect SSH never to answer: the gcp provider reads its
 * readiness timeout once, when loaded (SKYRUN_GCP_READY_TIMEOUT_MS, 10 minutes by default).
 */
process.env.SKYRUN_GCP_READY_TIMEOUT_MS ??= '20000';
export {};
