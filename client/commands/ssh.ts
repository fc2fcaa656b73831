/** `skyrun ssh`: a shell, or a command, on a cluster's node. */
import type { Command } from 'commander';
import { ExitCode } from '../../core/states';
import { MAX_NUM_NODES, parseWholeNumber } from '../../core/task';
import { checkClusterName } from './args';
import { CliError, withClient, type Act } from './shared';

export function register(program: Command, act: Act): void {
  program
    .command('ssh')
    .description("Open a shell on a cluster's node (or run a command there): `ssh <cluster>` works too")
    .argument('<cluster>')
    .argument('[command...]', 'a command to run instead of a shell (after --)')
    .option('--node <rank>', 'which node: 0 is the head', '0')
    .action(act(ssh));
}

async function ssh(cluster: string, command: string[], opts: { node: string }): Promise<number> {
  checkClusterName(cluster);
  const rank = parseWholeNumber(opts.node, 'a node rank', 0, MAX_NUM_NODES - 1);
  if (!rank.ok) throw new CliError(`--node: ${rank.error}`, ExitCode.INVALID_INPUT);
  const { spawnSync } = await import('node:child_process');
  const { sshConfigFile, hostAlias, writeSshConfig } = await import('../ssh-config');
  const info = await withClient({ needWorker: false }, async (client) => {
    const found = await client.info(cluster);
    if (found) writeSshConfig(await client.list());
    return found;
  });
  if (info?.status === 'STOPPED')
    throw new CliError(`Cluster '${cluster}' is STOPPED; start it first: skyrun start ${cluster}`);
  if (!info?.handle) throw new CliError(`Cluster '${cluster}' does not exist or is not up.`);
  const node = info.handle.nodes[rank.value];
  if (!node)
    throw new CliError(
      `Cluster '${cluster}' has no node ${opts.node} (it has ${info.handle.nodes.length}).`,
      ExitCode.INVALID_INPUT,
    );
  if (node.runner.kind === 'kube') {
    const { podShell } = await import('../../activities/infra/inspect');
    return podShell(node.runner, command);
  }
  const r =
    node.runner.kind === 'ssh'
      ? spawnSync(
          'ssh',
          ['-F', sshConfigFile(), ...(command.length ? [] : ['-t']), hostAlias(cluster, node.rank), ...command],
          { stdio: 'inherit' },
        )
      : // a local node is a folder: a shell there
        spawnSync(process.env.SHELL || 'bash', command.length ? ['-c', command.join(' ')] : [], {
          stdio: 'inherit',
          cwd: `${node.runner.root}/sky_workdir`,
        });
  return r.status ?? ExitCode.ERROR;
}
