/** The tags that are the source of truth for what SkyRun owns on EC2. */
export const TAG_CLUSTER = 'skyrun-cluster';
export const TAG_OFFER = 'skyrun-offer-key';
export const TAG_NODE = 'skyrun-node';
/** the region the cluster lives in, on each of its resources (for people and tag searches across regions) */
export const TAG_REGION = 'skyrun-region';
