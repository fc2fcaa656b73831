export { clusterWorkflow } from './cluster';
export { managedJobWorkflow } from './managed-job';
export { sshPoolWorkflow } from './ssh-pool';
