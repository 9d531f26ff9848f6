/**
 * graphql-ws on a `ws` WebSocketServer: graphql-ws's own `useServer` (graphql-ws/use/ws), with three
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
 * - A result is serialised once, however many subscribers get it. graphql-ws copies and
 *   `JSON.stringify`s each subscriber's result into its `next` frame; subscribers of the same
 *   operation get the very same result object (shared execution, `shared-execution.ts`), so its
 *   JSON bytes are kept beside it (a WeakMap) and each subscriber's frame is its own
 *   `{"id":…,"type":"next","payload":` around those shared bytes: graphql-ws builds the frame with
 *   a placeholder payload and `send` splices the bytes in. Results with errors (which carry one
 *   request's id) are serialised per subscriber, as before.
 *
 * Keep-alive (ping, terminate without pong), error handling and close codes are `useServer`'s.
 *
 * `onSend` (optional) is told of each frame before it is written and may return a callback that is
 * called once the frame is handed to the socket (or, when backpressured, written) — the hook the
 * server's per-message send spans use.
 */

import type { IncomingMessage } from 'node:http';
import type { ExecutionResult } from 'graphql';
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
  /**
   * Told of each frame before it is sent (a shared payload still as its placeholder); the callback
   * it returns (if any) is called when the frame is handed to the socket, with its size in bytes
   * and the write error if there was one.
   */
  onSend?: (socket: WebSocket, data: string) => ((bytes: number, error?: Error) => void) | undefined;
  logger: Logger;
}

/** JSON bytes of results, kept while the result object lives (shared by every subscriber that gets it). */
const serialized = new WeakMap<object, Buffer>();
/** What graphql-ws writes as the payload of a frame whose payload is shared: its JSON is replaced by the bytes. */
const PLACEHOLDER = '\u0001keyflow-shared-payload';
const PLACEHOLDER_JSON = JSON.stringify(PLACEHOLDER);
const PLACEHOLDER_TAIL = `${PLACEHOLDER_JSON}}`;
const sharedPayload = { toJSON: () => PLACEHOLDER } as unknown as ExecutionResult;
const CLOSE_BRACE = Buffer.from('}');
/** graphql-ws messages are text frames, also when written from bytes. */
const TEXT = { binary: false } as const;

/** The result's JSON bytes, serialised at most once per result object. */
function bytesOf(result: ExecutionResult): Buffer {
  let bytes = serialized.get(result);
  if (bytes === undefined) serialized.set(result, (bytes = Buffer.from(JSON.stringify(result))));
  return bytes;
}

/**
 * The frame to write: `data` itself, or, when graphql-ws wrote the shared placeholder, the frame
 * with the operation's shared bytes spliced in (`payload` is the last member graphql-ws writes).
 */
function frameOf(data: string, pending: Map<string, Buffer> | undefined): string | Buffer {
  if (pending === undefined || pending.size === 0 || !data.endsWith(PLACEHOLDER_TAIL)) return data;
  const id = idOf(data);
  const bytes = pending.get(id);
  if (bytes === undefined) return data;
  pending.delete(id);
  return Buffer.concat([Buffer.from(data.slice(0, data.length - PLACEHOLDER_JSON.length - 1)), bytes, CLOSE_BRACE]);
}

/** The id of a graphql-ws frame: read from `{"id":"…",` as graphql-ws writes it, parsed when it is escaped or written otherwise. */
function idOf(data: string): string {
  if (data.startsWith('{"id":"')) {
    const end = data.indexOf('"', 7);
    const raw = data.slice(7, end);
    if (end > 7 && !raw.includes('\\')) return raw;
  }
  return (JSON.parse(data) as { id: string }).id;
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
  /** Shared payloads waiting for their frame, per socket, by operation id (one per operation: graphql-ws sends before it takes the next result). */
  const pendingBytes = new WeakMap<WebSocket, Map<string, Buffer>>();
  const userOnNext = options.onNext;
  const server = makeServer({
    ...options,
    onNext(ctx, id, payload, args, result) {
      const own = userOnNext?.(ctx, id, payload, args, result);
      const share = (out: unknown): ExecutionResult => {
        const r = (out ?? result) as ExecutionResult;
        if (r.errors !== undefined || typeof r !== 'object' || r === null) return r;
        const socket = ctx.extra.socket as WebSocket;
        let pending = pendingBytes.get(socket);
        if (pending === undefined) pendingBytes.set(socket, (pending = new Map()));
        pending.set(id, bytesOf(r));
        return sharedPayload;
      };
      return own instanceof Promise ? own.then(share) : share(own);
    },
  });
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
        send(text) {
          if (socket.readyState !== socket.OPEN) return;
          const data = frameOf(text, pendingBytes.get(socket));
          if (!corked && raw) {
            corked = true;
            raw.cork();
            setImmediate(uncork);
          }
          const sent = onSend?.(socket, text);
          const bytes = sent === undefined ? 0 : typeof data === 'string' ? Buffer.byteLength(data) : data.length;
          if (socket.bufferedAmount < maxBuffered) {
            socket.send(data, TEXT);
            sent?.(bytes);
            return;
          }
          // backpressured: the subscription pulls its next item once this one is written
          return new Promise<void>((resolve, reject) =>
            socket.send(data, TEXT, (err) => {
              sent?.(bytes, err);
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
