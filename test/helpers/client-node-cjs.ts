/**
 * Jest only (package.json `jest.moduleNameMapper` points `@kubernetes/client-node` here): that
 * package (1.x) is ES modules only. Plain Node 20.19+ `require()`s it natively (the CLI and worker
 * do), but jest's own module loader cannot before Node 24.9 ("Must use import to load ES Module").
 * So tests get it through Node's real require: jest hands out a subclass of Node's `Module` whose
 * `createRequire` is jest's, and its prototype is the real one. One instance for every importer
 * inside a test file (the provider, the runner and the helpers alike).
 */
import jestModule = require('node:module');

type CreateRequire = (file: string) => NodeJS.Require;
const real = Object.getPrototypeOf(jestModule) as { createRequire?: CreateRequire };
const createRequire: CreateRequire =
  typeof real.createRequire === 'function' ? real.createRequire : jestModule.createRequire;

export = createRequire(__filename)('@kubernetes/client-node');
