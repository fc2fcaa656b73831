/**
 * The cluster workflow's messages. The client imports this file alone, so it stays free of
 * anything but the definitions.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AutostopSetting, ClusterInfo, JobRequest, SubmitJobResult } from '../../core/cluster';
import type { ManagedJobState, ManagedJobStatus } from '../../core/managed';
import type { JobStatus } from '../../core/states';

/** Queue a job (setup and/or run); returns its id at once. */
export const submitJobUpdate = defineUpdate<SubmitJobResult, [JobRequest]>('submitJob');
/** Cancel a job; returns once every rank's process tree is gone. */
export const cancelJobUpdate = defineUpdate<JobStatus, [number]>('cancelJob');
/** Tear the cluster down (verified); returns when the nodes are gone. */
export const downUpdate = defineUpdate<void, []>('down');
export const stopUpdate = defineUpdate<void, []>('stop');
export const startUpdate = defineUpdate<void, []>('start');
/** null cancels autostop */
export const setAutostopUpdate = defineUpdate<void, [AutostopSetting | null]>('setAutostop');
/** A hint that a job may have changed state: check now instead of at the next timer. */
export const pokeSignal = defineSignal<[]>('poke');
export const statusQuery = defineQuery<ClusterInfo>('status');
/**
 * A job's secret values, for the CLI to redact them from the job's log. The answer holds a
 * `secrets` map, so the codec encrypts it; the worker answers only queries sealed with the key.
 */
export const jobSecretsQuery = defineQuery<{ secrets: Record<string, string> }, [number]>('jobSecrets');

// ---- managed jobs ------------------------------------------------------------------------

/** Cancel a managed job: kill it, tear its cluster down (verified); returns the final status. */
export const cancelManagedJobUpdate = defineUpdate<ManagedJobStatus, []>('cancelManagedJob');
export const managedJobQuery = defineQuery<ManagedJobState>('managedJob');
/**
 * The managed job's secret values, to redact its log. Takes the job's id, so the call must be
 * sealed with the key (the worker refuses unsealed arguments); the answer is encrypted.
 */
export const managedJobSecretsQuery = defineQuery<{ secrets: Record<string, string> }, [number]>('managedJobSecrets');

// ---- ssh node pools ----------------------------------------------------------------------

export interface ReserveHostsRequest {
  cluster: string;
  /** every host of the pool, in the pool file's order (the activity reads the file) */
  hosts: string[];
  count: number;
}

/** Give `count` free hosts to a cluster (the ones it holds already, when it holds some). */
export const reserveHostsUpdate = defineUpdate<string[], [ReserveHostsRequest]>('reserveHosts');
/** Give back every host a cluster holds; returns them. */
export const releaseHostsUpdate = defineUpdate<string[], [string]>('releaseHosts');
/** host -> cluster */
export const poolAssignmentsQuery = defineQuery<Record<string, string>>('assignments');
