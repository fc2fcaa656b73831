export { clusterWorkflow } from './cluster';
export { managedJobWorkflow } from './managed-job';
