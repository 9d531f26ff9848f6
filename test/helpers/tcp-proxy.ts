/** Test helper shared by the reconnect suites. */
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Drops every connection and refuses new ones. */
  cut(): void;
  /** Accepts connections again. */
  restore(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of a real service that the test can cut and restore, so a lost connection
 * is exercised without stopping the shared server. `onClientData` sees what clients send (to time
 * a fault to a command in flight).
 */
export async function startProxy(upstream: string, options: { onClientData?: (chunk: Buffer) => void } = {}): Promise<TcpProxy> {
  const watch = options.onClientData;
  const [host, port] = upstream.split(':') as [string, string];
  const sockets = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const up = tcpConnect({ host, port: Number(port) });
    sockets.add(client);
    sockets.add(up);
    client.pipe(up).pipe(client);
    // after the pipe's own listener: a chunk the watcher sees has already been written upstream
    if (watch) client.on('data', watch);
    const drop = () => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
