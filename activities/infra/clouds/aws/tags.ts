/** The tags that are the source of truth for what SkyRun owns on EC2. */
export const TAG_CLUSTER = 'skyrun-cluster';
export const TAG_OFFER = 'skyrun-offer-key';
export const TAG_NODE = 'skyrun-node';
