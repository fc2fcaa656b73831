/**
 * Jest transform for the ES-module-only packages @kubernetes/client-node pulls in: jest's own
 * module loader cannot require(esm) on Node 20 (Node itself can), so under jest those files are
 * compiled to CommonJS with @swc/core (already installed through @temporalio/worker). Only the
 * packages listed in package.json's transformIgnorePatterns exception reach this transform.
 */
const { transformSync } = require('@swc/core');

module.exports = {
  process(source, filename) {
    const out = transformSync(source, {
      filename,
      sourceMaps: false,
      module: { type: 'commonjs', ignoreDynamic: false },
      jsc: { parser: { syntax: 'ecmascript', topLevelAwait: true }, target: 'es2022' },
    });
    return { code: out.code };
  },
};
