/**
 * graphql-ws on a `ws` WebSocketServer: graphql-ws's own `useServer` (graphql-ws/use/ws), with two
 * changes to how messages are written, which is most of the live path's cost:
 *
 * - `send` waits for the socket only when it is backpressured. graphql-ws takes a subscription's
 *   next item once the previous `send` settled, and `useServer` settles it on the write callback:
 *   one item per subscription per event-loop turn, which capped a subscription far below
 *   10,000 events/s. Here `send` returns at once while the socket holds less than
 *   `maxBufferedBytes` unwritten, and waits for the write otherwise — so a client that reads slowly
 *   still stops its subscription from pulling, fills the subscription's bounded buffer and is ended
 *   with RATE_LIMITED, and the server's memory per socket stays bounded.
 * - Frames written in the same turn leave in one `writev`: the socket is corked at the first send
 *   of a turn and uncorked in `setImmediate`, instead of a system call per message.
 *
 * Keep-alive (ping, terminate without pong), error handling and close codes are `useServer`'s.
 *
 * `onSend` (optional) is told of each frame before it is written and may return a callback that is
 * called once the frame is handed to the socket (or, when backpressured, written) — the hook the
 * server's per-message send spans use.
 */

import type { IncomingMessage } from 'node:http';
import { CloseCode, DEPRECATED_GRAPHQL_WS_PROTOCOL, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../core/index.ts';

/** What graphql-ws handlers find in `ctx.extra`. */
export interface WsExtra {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
}

export interface WsTransportOptions {
  /** Ping interval, ms; a client that misses a pong for as long is dropped. @default 12_000 */
  keepAliveMs?: number;
  /** Unwritten bytes a socket may hold before `send` waits for it to drain (bounds memory per socket). @default 65_536 */
  maxBufferedBytes?: number;
  /** Told of each frame before it is sent; the callback it returns (if any) is called when the frame is handed to the socket, with the write error if there was one. */
  onSend?: (socket: WebSocket, data: string) => ((error?: Error) => void) | undefined;
  logger: Logger;
}

/** Why a socket is closed on an internal error; never a stack trace. */
function reasonOf(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  // a close reason is at most 123 bytes
  return m.length > 100 ? `${m.slice(0, 100)}…` : m;
}

/**
 * Serves graphql-ws on `wss`. Returns `dispose`, which closes every socket (1001) and the server.
 *
 * @example
 * const wss = new WebSocketServer({ noServer: true });
 * const { dispose } = useWsTransport({ schema }, wss, { logger });
 */
export function useWsTransport<E extends Record<PropertyKey, unknown> = Record<PropertyKey, never>>(
  options: ServerOptions<Record<string, unknown> | undefined, WsExtra & Partial<E>>,
  wss: WebSocketServer,
  transport: WsTransportOptions,
): { dispose(): Promise<void> } {
  const keepAlive = transport.keepAliveMs ?? 12_000;
  const maxBuffered = transport.maxBufferedBytes ?? 65_536;
  const { logger, onSend } = transport;
  const server = makeServer(options);
  wss.options.handleProtocols = handleProtocols;

  wss.once('error', (err) => {
    logger.error({ err }, 'WebSocket server error: closing every socket');
    for (const client of wss.clients) client.close(CloseCode.InternalServerError, 'Internal server error');
  });

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    socket.once('error', (err) => {
      logger.warn({ err }, 'WebSocket error: socket closed');
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
    let pongWait: ReturnType<typeof setTimeout> | null = null;
    const pingInterval =
      keepAlive > 0 && Number.isFinite(keepAlive)
        ? setInterval(() => {
            if (socket.readyState !== socket.OPEN) return;
            pongWait = setTimeout(() => socket.terminate(), keepAlive);
            socket.once('pong', () => {
              if (pongWait) clearTimeout(pongWait);
              pongWait = null;
            });
            socket.ping();
          }, keepAlive)
        : null;

    // the net.Socket under ws: corked for the rest of the turn at the first send
    const raw = (socket as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    let corked = false;
    const uncork = () => {
      corked = false;
      raw?.uncork();
    };

    const closed = server.opened(
      {
        protocol: socket.protocol,
        send(data) {
          if (socket.readyState !== socket.OPEN) return;
          if (!corked && raw) {
            corked = true;
            raw.cork();
            setImmediate(uncork);
          }
          const sent = onSend?.(socket, data);
          if (socket.bufferedAmount < maxBuffered) {
            socket.send(data);
            sent?.();
            return;
          }
          // backpressured: the subscription pulls its next item once this one is written
          return new Promise<void>((resolve, reject) =>
            socket.send(data, (err) => {
              sent?.(err);
              if (err) reject(err);
              else resolve();
            }),
          );
        },
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on('message', async (event) => {
            try {
              await cb(String(event));
            } catch (err) {
              logger.warn({ err }, 'graphql-ws message handling failed: socket closed');
              socket.close(CloseCode.InternalServerError, reasonOf(err));
            }
          }),
      },
      { socket, request } as WsExtra & Partial<E>,
    );

    socket.once('close', (code, reason) => {
      if (pongWait) clearTimeout(pongWait);
      if (pingInterval) clearInterval(pingInterval);
      if (code === CloseCode.SubprotocolNotAcceptable && socket.protocol === DEPRECATED_GRAPHQL_WS_PROTOCOL) {
        logger.debug('client offered the deprecated subscriptions-transport-ws subprotocol');
      }
      void closed(code, String(reason));
    });
  });

  return {
    async dispose() {
      for (const client of wss.clients) client.close(1001, 'Going away');
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
