/** SkyPilot's ssh_proxy_command: a command whose stdin/stdout is the socket ssh2 talks over. */
import { spawn, type ChildProcess } from 'node:child_process';
import { Duplex } from 'node:stream';
import type { RunnerSpec } from '../../../core/cluster';

/** A proxy command's stdin/stdout as the socket ssh2 talks over (SkyPilot's ssh_proxy_command). */
class ProxySocket extends Duplex {
  stderr = '';
  /** settles once the command has exited and its output is all read */
  readonly exited: Promise<void>;
  constructor(readonly child: ChildProcess) {
    super();
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.stdout!.on('data', (d: Buffer) => {
      if (!this.push(d)) child.stdout!.pause();
    });
    child.stdout!.on('end', () => this.push(null));
    child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d).slice(-500)));
    child.stdin!.on('error', () => undefined); // EPIPE after the proxy died: the read side reports it
    child.on('error', (e) => this.destroy(e));
  }
  override _read(): void {
    this.child.stdout!.resume();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.child.stdin!.write(chunk, cb);
  }
  override _final(cb: () => void): void {
    this.child.stdin!.end();
    cb();
  }
  override _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    this.child.kill();
    cb(err);
  }
}

export function proxySocket(spec: Extract<RunnerSpec, { kind: 'ssh' }>): ProxySocket {
  const cmd = spec.proxyCommand!.replace(/%([%hpr])/g, (_, c: string) =>
    c === 'h' ? spec.host : c === 'p' ? String(spec.port) : c === 'r' ? spec.user : '%',
  );
  return new ProxySocket(spawn('bash', ['-c', cmd], { stdio: ['pipe', 'pipe', 'pipe'] }));
}
