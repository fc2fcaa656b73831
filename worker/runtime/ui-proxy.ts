/**
 * The embedded server's web UI answers only to its own host name: a small proxy in front of it
 * refuses any request whose Host header is not 127.0.0.1, localhost or [::1] on its own port, so a
 * web page on another name that resolves to this machine (DNS rebinding) cannot drive the UI's
 * HTTP API from a browser. Run as its own process: `node ui-proxy.js LISTEN_PORT UI_PORT`.
 */
import * as http from 'node:http';
import * as net from 'node:net';

export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

export function createUiProxy(listenPort: number, targetPort: number): http.Server {
  const allowed = allowedHosts(listenPort);
  const refuse = (host: string | undefined) =>
    `This SkyRun UI answers only to http://127.0.0.1:${listenPort} (got Host: ${JSON.stringify(host ?? '')})\n`;
  const server = http.createServer((req, res) => {
    if (!allowed.has(req.headers.host ?? '')) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end(refuse(req.headers.host));
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end('UI unavailable\n')));
    req.pipe(upstream);
  });
  // websocket and other upgrades: the same check, then a raw pipe
  server.on('upgrade', (req, socket, head) => {
    if (!allowed.has(req.headers.host ?? '')) {
      socket.end(`HTTP/1.1 421 Misdirected Request\r\n\r\n${refuse(req.headers.host)}`);
      return;
    }
    const up = net.connect(targetPort, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(lines.join('\r\n') + '\r\n\r\n');
      up.write(head);
      up.pipe(socket).pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  return server;
}

if (require.main === module) {
  const [listen, target] = process.argv.slice(2).map(Number);
  if (!listen || !target) {
    console.error('usage: ui-proxy LISTEN_PORT UI_PORT');
    process.exit(2);
  }
  createUiProxy(listen, target).listen(listen, '127.0.0.1');
}
