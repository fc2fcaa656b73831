/**
 * @kubernetes/client-node, loaded on first use: it is an ES module (required through Node's
 * require(esm)), and most commands and workers never touch Kubernetes, so they never pay for
 * loading it (nor fail when it cannot load).
 */
type ClientNode = typeof import('@kubernetes/client-node');

let lib: ClientNode | undefined;

export function clientNode(): ClientNode {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  lib ??= require('@kubernetes/client-node') as ClientNode;
  return lib;
}
