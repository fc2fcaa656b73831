export { clusterWorkflow } from './cluster';
