import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { type InspectOptions, inspect } from 'node:util';
import {
  CloseTimeoutError,
  ConnectionError,
  errorFromClose,
  ProtocolError,
  RpcTimeoutError,
  WarrenError,
} from '../protocol/errors.js';
import type { FieldTable } from '../protocol/field-table.js';
import {
  FrameDecoder,
  type FrameSink,
  PROTOCOL_HEADER,
  writeHeartbeatFrame,
  writeMethodFrame,
} from '../protocol/frame.js';
import type { Method, MethodInputs, MethodName } from '../protocol/spec.js';
import { Channel, type ChannelHost, methodNameOf } from './channel.js';
import { asyncDispose } from './dispose.js';
import { FrameOutput } from './frame-output.js';
import { MIN_FRAME_MAX, negotiate, startOk, type Tuned } from './handshake.js';
import { Heartbeat } from './heartbeat.js';
import { Lifecycle, type LifecycleState } from './lifecycle.js';
import { abortError, ConnectOptionsError, type ResolvedConnectOptions } from './options.js';
import type { ReadPlacement, SlabReads } from './slab-reads.js';

/** How long a close waits for the broker's close-ok and the socket's release before destroying it. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5000;

/** Options of {@link Connection.close}. */
export interface CloseOptions {
  /**
   * Longest the close may take, in ms (0..2^31-1; default {@link DEFAULT_CLOSE_TIMEOUT_MS}): waiting for the
   * broker's close-ok and for the socket to finish writing. Past it the socket is destroyed, everything
   * still pending fails with a `CloseTimeoutError` (code `ERR_CLOSE_TIMEOUT`), and close() resolves.
   */
  timeoutMs?: number;
}

/** Events a connection emits. A connection never emits `'error'`: failures arrive with `'close'`. */
export interface ConnectionEvents {
  /** The connection closed; `error` is set unless the client closed it. */
  close: [error: ConnectionError | undefined];
  /** The broker stopped reading from this connection (a resource alarm). */
  blocked: [reason: string];
  /** The broker resumed reading from this connection (connection.unblocked): publishes flow again. */
  unblocked: [];
  /** Every lifecycle transition. */
  state: [to: LifecycleState, from: LifecycleState];
}

/**
 * An open AMQP connection. Create it with {@link connect}; open channels with {@link createChannel}.
 *
 * @example
 * ```ts
 * const conn = await connect('amqp://guest:guest@127.0.0.1:5672/%2F?heartbeat=30');
 * conn.on('close', (err) => err && console.error('lost', err.code));
 * const ch = await conn.createChannel();
 * await conn.close();
 * ```
 */
export class Connection extends EventEmitter<ConnectionEvents> implements ChannelHost {
  /** What the broker said about itself in connection.start. */
  serverProperties: FieldTable = {};
  /**
   * The negotiated largest frame in bytes, frame header and end octet included (valid once open): the
   * lower of the `frameMax` option and the broker's proposal (where one side says 0, "no limit", the
   * other's), never below 8192: a broker proposing less is refused. Message bodies are split into frames
   * of at most this size.
   */
  frameMax = MIN_FRAME_MAX;
  /**
   * The negotiated highest channel number (valid once open; 0 before): the lower of the `channelMax`
   * option and the broker's proposal, 65535 when neither sets a limit. {@link createChannel} fails with
   * `ERR_CHANNELS_EXHAUSTED` when every number is in use.
   */
  channelMax = 0;
  /**
   * The negotiated heartbeat timeout in seconds (valid once open); 0 when heartbeats are off (the
   * `heartbeat: 0` option, or both sides proposing 0). A heartbeat frame goes out when nothing else was
   * written for half of it, and the connection fails when nothing arrives from the broker for two of it.
   */
  heartbeatSeconds = 0;
  /** @internal The frame writer the connection and its channels encode frames into. */
  readonly output: FrameOutput;
  private readonly lifecycle: Lifecycle;
  private readonly decoder: FrameDecoder;
  private heartbeat: Heartbeat | undefined;
  private readonly channels = new Map<number, Channel>();
  /** Ids of channels closed without the broker's close-ok (see {@link retireChannel}). */
  private readonly retired = new Set<number>();
  private nextChannelId = 1;
  private handshake: { resolve(): void; reject(err: Error): void; step: 'start' | 'tune' | 'open' } | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private closeDeadline = 0;
  private closeWaiters: Array<() => void> = [];
  private closeReason: ConnectionError | undefined;
  private pendingSecret: { resolve(): void; reject(err: Error): void; timer: NodeJS.Timeout } | undefined;
  private blockedReason: string | undefined;
  private streamError: Error | undefined;

  /** Hard-private (not shown by util.inspect at any depth, nor by JSON.stringify): it holds the password. */
  readonly #options: ResolvedConnectOptions;

  private constructor(
    private readonly stream: Duplex,
    options: ResolvedConnectOptions,
    /** Where the bytes arrive when not as the stream's 'data' events (a plain TCP socket's slab reads). */
    private readonly reads: SlabReads | undefined,
  ) {
    super();
    this.#options = options;
    this.lifecycle = new Lifecycle((from, to) => this.emit('state', to, from));
    this.output = new FrameOutput(stream);
    this.decoder = new FrameDecoder(this.inbound);
    if (reads) {
      reads.onChunk = this.onData;
      reads.placement = this.placement;
    } else stream.on('data', this.onData);
    stream.on('error', this.onStreamError);
    stream.on('close', this.onStreamClose);
    stream.on('end', this.onStreamEnd);
  }

  /**
   * Runs the AMQP handshake over an already connected stream. Rejects (and destroys the stream) when
   * the handshake fails or does not finish before `deadline` (epoch ms).
   * @internal Use {@link connect}.
   */
  static async open(
    stream: Duplex,
    options: ResolvedConnectOptions,
    deadline: number,
    reads?: SlabReads,
  ): Promise<Connection> {
    const conn = new Connection(stream, options, reads);
    await conn.start(deadline);
    return conn;
  }

  /**
   * What util.inspect / console.log show: where the connection goes and its state, never its credentials,
   * socket or buffers (whose bytes include the SASL response).
   */
  [inspect.custom](_depth: number, options: InspectOptions, show: typeof inspect): string {
    return `Connection ${show(this.toJSON(), options)}`;
  }

  /** What JSON.stringify shows: the same summary as util.inspect. */
  toJSON(): Record<string, unknown> {
    const o = this.#options;
    return {
      state: this.lifecycle.state,
      host: `${o.hostname}:${o.port}`,
      vhost: o.vhost,
      username: o.username,
      tls: o.tls !== undefined,
      connectionName: o.connectionName,
      channels: this.channels.size,
      frameMax: this.frameMax,
      heartbeat: this.heartbeatSeconds,
      blocked: this.blockedReason,
    };
  }

  /** @internal Longest a channel holds an in-order ack to batch it (the `ackDelay` option), in ms. */
  get ackDelay(): number {
    return this.#options.ackDelay;
  }

  /** @internal Longest a synchronous method waits for its reply (the `rpcTimeoutMs` option), in ms. */
  get rpcTimeoutMs(): number {
    return this.#options.rpcTimeoutMs;
  }

  /** opening, open, closing or closed. */
  get state(): LifecycleState {
    return this.lifecycle.state;
  }

  /** True while the connection is open (handshake done, not closing or closed): channels can be created. */
  get isOpen(): boolean {
    return this.lifecycle.state === 'open';
  }

  /** The reason given with connection.blocked, while blocked. */
  get blocked(): string | undefined {
    return this.blockedReason;
  }

  /** Open channels. */
  get channelCount(): number {
    return this.channels.size;
  }

  /** Opens a new channel. */
  async createChannel(): Promise<Channel> {
    if (this.lifecycle.state !== 'open') throw this.notOpen('open a channel');
    const id = this.allocateChannelId();
    const channel = new Channel(this, id);
    this.channels.set(id, channel);
    return channel.open();
  }

  /**
   * Updates the secret (e.g. an OAuth 2 access token) of the connection without reconnecting:
   * `connection.update-secret`, RabbitMQ 3.8+. Resolves on update-secret-ok; a broker that refuses the new
   * secret closes the connection (the `'close'` event says why). Rejects with code `ERR_BUSY` while another
   * update is in flight, and with an `RpcTimeoutError` (then the connection closes) when the broker does not
   * answer within `rpcTimeoutMs`. The secret is never logged or printed.
   * @example
   * ```ts
   * await conn.updateSecret(await oauth.freshToken(), 'token refresh');
   * ```
   */
  updateSecret(newSecret: string, reason: string): Promise<void> {
    if (this.lifecycle.state !== 'open') return Promise.reject(this.notOpen('update the secret'));
    if (this.pendingSecret)
      return Promise.reject(new WarrenError('an update-secret is already in flight', { code: 'ERR_BUSY' }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(this.secretTimedOut, this.#options.rpcTimeoutMs);
      this.pendingSecret = { resolve, reject, timer };
      this.send('connection.update-secret', { newSecret, reason });
    });
  }

  /**
   * No update-secret-ok in time. A late one could not be told apart from the answer to a later call, and a
   * broker that answers nothing on channel 0 while heartbeating is broken: the connection closes.
   */
  private readonly secretTimedOut = (): void => {
    const p = this.pendingSecret;
    if (p === undefined) return;
    this.pendingSecret = undefined;
    const err = new RpcTimeoutError('connection.update-secret', this.#options.rpcTimeoutMs, 'the connection');
    p.reject(err);
    const failure = new ConnectionError(err.message, { code: err.code, recoverable: true, cause: err });
    this.beginClose(
      { replyCode: 200, replyText: 'closed by client: update-secret got no reply', classId: 0, methodId: 0 },
      failure,
    );
  };

  /**
   * Closes the connection cleanly: connection.close, then waits for close-ok and for the socket to finish
   * writing. Every channel and pending operation is rejected with a ConnectionError (code
   * `ERR_CONNECTION_CLOSED`). Idempotent; leaves no socket or timer.
   *
   * Always settles within `timeoutMs` (default {@link DEFAULT_CLOSE_TIMEOUT_MS}), even when the broker has
   * stopped reading (a resource alarm): then the socket is destroyed and what is still pending (channel
   * calls, publisher confirms, publishes waiting for the socket to drain) rejects with a
   * {@link CloseTimeoutError} (code `ERR_CLOSE_TIMEOUT`); close() itself resolves and the `'close'` event
   * carries no error (the client asked for the close). A later call with a shorter deadline shortens the
   * wait of an earlier one. Rejects with a `ConnectOptionsError` for a `timeoutMs` out of range.
   *
   * @example
   * ```ts
   * await conn.close({ timeoutMs: 2000 }); // at most 2 s, whatever the broker does
   * ```
   */
  async close(options: CloseOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 2 ** 31 - 1) {
      throw new ConnectOptionsError(`close timeoutMs must be an integer 0..${2 ** 31 - 1}, got ${timeoutMs}`);
    }
    const state = this.lifecycle.state;
    if (state === 'closed' && this.stream.closed) return;
    if (state === 'open' || state === 'opening') {
      // Acks a channel still owes must reach the broker before connection.close, or they would be ignored.
      for (const channel of this.channels.values()) channel.flushOwedAck();
      this.beginClose({ replyCode: 200, replyText: 'closed by client', classId: 0, methodId: 0 }, undefined, timeoutMs);
    }
    this.armCloseDeadline(timeoutMs);
    return this.waitClosed();
  }

  /**
   * `await using conn = await connect(...)`: {@link close} with the default deadline when the scope ends.
   * @example
   * ```ts
   * {
   *   await using conn = await connect('amqp://localhost');
   *   const ch = await conn.createChannel();
   * } // closed here
   * ```
   */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  releaseChannel(id: number): void {
    this.channels.delete(id);
  }

  /** @internal The channel gave up waiting for the broker: keep its id out of use until the broker answers. */
  retireChannel(id: number): void {
    this.channels.delete(id);
    this.retired.add(id);
  }

  /** @internal A protocol violation: close the connection with the violation's reply code. */
  protocolError(err: ProtocolError): void {
    const replyCode = err.replyCode ?? 501;
    const failure = new ConnectionError(`protocol error: ${err.message}`, {
      code: err.code,
      replyCode,
      classId: err.classId,
      methodId: err.methodId,
      recoverable: true,
      cause: err,
    });
    if (this.lifecycle.state === 'closing' || this.lifecycle.state === 'closed') {
      this.finish(this.closeReason ?? failure);
      return;
    }
    const close = {
      replyCode,
      replyText: err.message.slice(0, 255),
      classId: err.classId ?? 0,
      methodId: err.methodId ?? 0,
    };
    if (this.decoder.hasFailed) {
      // The decoder ignores everything after a framing error, so a close-ok could never be recognised: tell
      // the peer why (finish() flushes the frame before releasing the socket) and close now.
      this.closeReason = failure;
      try {
        writeMethodFrame(this.output.writer, 0, 'connection.close', close);
      } catch {
        // Nothing more can be said to this peer.
      }
      this.finish(failure);
      return;
    }
    this.beginClose(close, failure);
  }

  private start(deadline: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.handshake = { resolve, reject, step: 'start' };
      this.handshakeTimer = setTimeout(
        () => {
          // A protocol error already closing the connection is the better reason than the timeout.
          this.finish(
            this.closeReason ??
              new ConnectionError(
                `AMQP handshake with ${this.#options.hostname}:${this.#options.port} did not finish within ${this.#options.connectionTimeout} ms (waiting for connection.${this.handshake?.step ?? 'open'})`,
                { code: 'ERR_CONNECTION_TIMEOUT' },
              ),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
      const signal = this.#options.signal;
      if (signal) {
        const onAbort = () => this.finish(abortError(signal) as ConnectionError);
        if (signal.aborted) onAbort();
        else {
          signal.addEventListener('abort', onAbort, { once: true });
          this.once('state', () => signal.removeEventListener('abort', onAbort));
        }
      }
      this.stream.write(PROTOCOL_HEADER);
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    this.heartbeat?.received();
    this.decoder.push(chunk);
  };

  /** Large message bodies are read straight into their own buffers (see FrameDecoder.readInto). */
  private readonly placement: ReadPlacement = {
    into: () => this.decoder.readInto(),
    atMost: () => this.decoder.readAtMost(),
    placed: (n) => {
      this.heartbeat?.received();
      this.decoder.placed(n);
    },
  };

  private readonly onStreamError = (err: Error): void => {
    this.streamError ??= err;
  };

  private readonly onStreamEnd = (): void => {
    // The peer half-closed: AMQP has no use for a half-open link.
    this.stream.destroy();
  };

  private readonly onStreamClose = (): void => {
    if (this.lifecycle.state === 'closed') return;
    const err = this.streamError;
    const during = this.handshake ? ` during the handshake (at connection.${this.handshake.step})` : '';
    if (this.handshake?.step === 'tune' && !err && this.lifecycle.state === 'opening') {
      // Brokers without authentication_failure_close drop the socket after a bad start-ok.
      this.finish(
        new ConnectionError('the broker closed the connection after authentication: check username and password', {
          code: 'ACCESS_REFUSED',
          replyCode: 403,
          recoverable: false,
        }),
      );
      return;
    }
    this.finish(
      this.closeReason ??
        new ConnectionError(`connection lost${during}${err ? `: ${err.message}` : ': socket closed'}`, {
          code: (err as NodeJS.ErrnoException | undefined)?.code ?? 'ERR_CONNECTION_LOST',
          cause: err,
        }),
    );
  };

  private onBody(id: number, bytes: Buffer): void {
    try {
      if (this.retired.has(id)) return;
      this.channelFor(id, 'content body')?.onBodyFrame(bytes);
    } catch (err) {
      this.frameFailed(err);
    }
  }

  /** Where the decoder's frames go: channel 0 to the connection, the others to their channel. */
  private readonly inbound: FrameSink = {
    method: (id, method) => {
      try {
        if (this.retired.has(id)) this.onRetiredMethod(id, method);
        else if (id !== 0) this.channelFor(id, 'method')?.onMethodFrame(method);
        else if (this.lifecycle.state !== 'closed') this.onConnectionMethod(method);
      } catch (err) {
        this.frameFailed(err);
      }
    },
    header: (id, bodySize, properties, decodeError) => {
      try {
        if (this.retired.has(id)) return;
        this.channelFor(id, 'content header')?.onHeaderFrame(bodySize, properties, decodeError);
      } catch (err) {
        this.frameFailed(err);
      }
    },
    body: (id, payload) => this.onBody(id, payload),
    // Parts of a body frame split across reads go straight to the channel's content assembler, which
    // copies a multi-frame body once, into its own buffer.
    bodyPart: (id, part) => this.onBody(id, part),
    bodyTarget: (id, n) => {
      // Only for a channel that takes the body; anything else comes the usual way and meets its checks.
      if (this.retired.has(id) || this.lifecycle.state !== 'open') return undefined;
      return this.channels.get(id)?.bodyTarget(n);
    },
    bodyPlaced: (id, n) => {
      try {
        if (this.retired.has(id)) return;
        this.channelFor(id, 'content body')?.onBodyPlaced(n);
      } catch (err) {
        this.frameFailed(err);
      }
    },
    heartbeat: () => {},
    error: (err) => this.protocolError(err),
  };

  /**
   * The open channel a frame is for; undefined when the frame is to be ignored (the connection is closing
   * or closed). Throws the 505 for a frame on channel 0 that only a channel may carry, or for a channel
   * that is not open.
   */
  private channelFor(id: number, kind: string): Channel | undefined {
    const state = this.lifecycle.state;
    if (state === 'closed' || state === 'closing') return undefined; // only connection.close / close-ok matter now
    if (id === 0) throw new ProtocolError(505, `${kind} frame on channel 0: only a channel carries content`);
    if (this.handshake) throw new ProtocolError(505, `frame on channel ${id} before the connection opened`);
    const channel = this.channels.get(id);
    if (channel === undefined) throw new ProtocolError(505, `frame for channel ${id}, which is not open`);
    return channel;
  }

  /**
   * A method for a retired channel: a late reply, a delivery sent before the broker saw our channel.close.
   * Dropped; the broker's close-ok (or its own close, answered) frees the id.
   */
  private onRetiredMethod(id: number, m: Method): void {
    if (m.name === 'channel.close-ok') this.retired.delete(id);
    else if (m.name === 'channel.close') {
      if (this.lifecycle.state === 'open') this.send('channel.close-ok', {}, id);
      this.retired.delete(id);
    }
  }

  /** Whatever a frame handler throws closes the connection with a protocol error. */
  private frameFailed(err: unknown): void {
    this.protocolError(
      err instanceof ProtocolError
        ? err
        : new ProtocolError(541, `internal error handling a frame: ${(err as Error)?.message}`, { cause: err }),
    );
  }

  private onConnectionMethod(m: Method): void {
    if (m.name === 'connection.close') {
      this.send('connection.close-ok', {});
      this.output.flush();
      const err = errorFromClose('connection', m, methodNameOf(m.classId, m.methodId)) as ConnectionError;
      this.finish(this.closeReason ?? err);
      return;
    }
    if (m.name === 'connection.close-ok') {
      if (this.lifecycle.state !== 'closing')
        throw new ProtocolError(505, 'connection.close-ok without connection.close');
      this.finish(this.closeReason);
      return;
    }
    if (this.lifecycle.state === 'closing') return;
    if (this.handshake) {
      this.onHandshakeMethod(m);
      return;
    }
    switch (m.name) {
      case 'connection.blocked':
        this.blockedReason = m.reason;
        this.emit('blocked', m.reason);
        return;
      case 'connection.unblocked':
        this.blockedReason = undefined;
        this.emit('unblocked');
        return;
      case 'connection.update-secret-ok':
        if (this.pendingSecret) {
          const p = this.pendingSecret;
          this.pendingSecret = undefined;
          clearTimeout(p.timer);
          p.resolve();
          return;
        }
        break;
    }
    throw new ProtocolError(505, `unexpected ${m.name} on channel 0`);
  }

  private onHandshakeMethod(m: Method): void {
    const hs = this.handshake!;
    if (hs.step === 'start' && m.name === 'connection.start') {
      this.serverProperties = m.serverProperties;
      try {
        this.send('connection.start-ok', startOk(m, this.#options));
      } catch (err) {
        if (err instanceof ProtocolError) throw err;
        this.finish(err as ConnectionError);
        return;
      }
      hs.step = 'tune';
      return;
    }
    if (hs.step === 'tune' && m.name === 'connection.tune') {
      const tuned = negotiate(m, this.#options);
      this.applyTune(tuned);
      this.send('connection.tune-ok', tuned);
      this.send('connection.open', { virtualHost: this.#options.vhost });
      hs.step = 'open';
      return;
    }
    if (hs.step === 'tune' && m.name === 'connection.secure') {
      this.finish(
        new ConnectionError(`broker sent connection.secure, which SASL ${this.#options.mechanism} does not use`, {
          code: 'ERR_AUTH_MECHANISM',
          recoverable: false,
        }),
      );
      return;
    }
    if (hs.step === 'open' && m.name === 'connection.open-ok') {
      this.handshake = undefined;
      clearTimeout(this.handshakeTimer);
      this.lifecycle.move('open');
      this.heartbeat?.start();
      hs.resolve();
      return;
    }
    throw new ProtocolError(505, `unexpected ${m.name} during the handshake (waiting for connection.${hs.step})`);
  }

  private applyTune(tuned: Tuned): void {
    this.frameMax = tuned.frameMax;
    this.channelMax = tuned.channelMax;
    this.heartbeatSeconds = tuned.heartbeat;
    this.decoder.maxFrameSize = tuned.frameMax;
    if (tuned.heartbeat > 0) {
      this.heartbeat = new Heartbeat(tuned.heartbeat, {
        writes: () => this.output.writes,
        sendHeartbeat: () => {
          writeHeartbeatFrame(this.output.writer);
          this.output.flush();
        },
        timedOut: (silentForMs) => {
          const midFrame = this.decoder.midFrame ? ' (stalled in the middle of a frame)' : '';
          this.finish(
            new ConnectionError(
              `heartbeat timeout: nothing received from the broker for ${silentForMs} ms${midFrame} (heartbeat ${tuned.heartbeat} s)`,
              { code: 'ERR_HEARTBEAT_TIMEOUT' },
            ),
          );
        },
      });
    }
  }

  private send<N extends MethodName>(name: N, args: MethodInputs[N], channel = 0): void {
    writeMethodFrame(this.output.writer, channel, name, args);
    this.output.flushSoon();
  }

  /** Sends connection.close and waits for close-ok; `failure` (if any) is what everything fails with. */
  private beginClose(
    close: MethodInputs['connection.close'],
    failure: ConnectionError | undefined,
    timeoutMs = DEFAULT_CLOSE_TIMEOUT_MS,
  ): void {
    this.closeReason = failure;
    if (!this.lifecycle.move('closing')) return;
    try {
      this.send('connection.close', close);
      this.output.flush();
    } catch {
      this.finish(failure);
      return;
    }
    this.armCloseDeadline(timeoutMs);
  }

  /**
   * The close (close-ok, then the socket's release) must be over within `timeoutMs` from now; an earlier
   * deadline already set stays. One timer for the whole close, cleared once the socket is released.
   */
  private armCloseDeadline(timeoutMs: number): void {
    if (this.lifecycle.state === 'closed' && this.stream.closed) return;
    const deadline = Date.now() + timeoutMs;
    if (this.closeTimer !== undefined && this.closeDeadline <= deadline) return;
    clearTimeout(this.closeTimer);
    this.closeDeadline = deadline;
    this.closeTimer = setTimeout(() => this.closeExpired(timeoutMs), timeoutMs);
  }

  /** The close did not finish in time (the broker does not answer, or does not read): drop the socket. */
  private closeExpired(timeoutMs: number): void {
    this.closeTimer = undefined;
    const waitingFor = this.lifecycle.state === 'closed' ? 'the socket to finish writing' : 'connection.close-ok';
    const forced = new CloseTimeoutError(
      `connection to ${this.#options.hostname}:${this.#options.port} closed by force: no ${waitingFor} within ${timeoutMs} ms${this.blockedReason === undefined ? '' : ` (the broker blocked the connection: ${this.blockedReason})`}`,
    );
    if (this.lifecycle.state !== 'closed') this.finish(this.closeReason, forced);
    this.stream.destroy();
  }

  private waitClosed(): Promise<void> {
    if (this.lifecycle.state === 'closed' && this.stream.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve);
      if (this.lifecycle.state === 'closed' && this.stream.closed) resolve();
    });
  }

  /**
   * The one way a connection ends: stop timers, fail channels and waiters, release the socket. `err` is
   * what the connection failed with (undefined: the client closed it); `forced`, set when a close ran out
   * of time, is what pending operations fail with instead of the plain "closed by the client".
   */
  private finish(err: ConnectionError | undefined, forced?: CloseTimeoutError): void {
    if (this.lifecycle.state === 'closed') return;
    this.lifecycle.move('closed');
    clearTimeout(this.handshakeTimer);
    this.heartbeat?.stop();
    const reason =
      err ??
      forced ??
      new ConnectionError('the connection was closed by the client', {
        code: 'ERR_CONNECTION_CLOSED',
        recoverable: false,
      });
    const clean = err === undefined && forced === undefined;
    this.output.close(clean ? undefined : reason);
    this.stream.off('data', this.onData);
    this.reads?.detach();
    // Errors after this point (e.g. EPIPE while ending) have nobody to tell; keep them from crashing.
    this.stream.on('error', () => {});
    if (clean) {
      // end() calls back only once everything written has been flushed: a broker that stopped reading
      // would keep the socket forever, so the close deadline (armed here if no close() armed it) still runs.
      this.stream.end(() => this.stream.destroy());
      if (this.closeTimer === undefined) this.armCloseDeadline(DEFAULT_CLOSE_TIMEOUT_MS);
    } else this.stream.destroy();
    for (const channel of [...this.channels.values()]) channel.connectionClosed(reason);
    this.channels.clear();
    if (this.pendingSecret) {
      clearTimeout(this.pendingSecret.timer);
      this.pendingSecret.reject(reason);
    }
    this.pendingSecret = undefined;
    this.retired.clear();
    const hs = this.handshake;
    this.handshake = undefined;
    this.emit('close', err);
    // close() resolves, and a failed handshake rejects, once the socket is really gone: no handle outlives them.
    const released = () => {
      clearTimeout(this.closeTimer);
      this.closeTimer = undefined;
      hs?.reject(reason);
      const waiters = this.closeWaiters;
      this.closeWaiters = [];
      for (const w of waiters) w();
    };
    if (this.stream.closed) released();
    else this.stream.once('close', released);
  }

  private allocateChannelId(): number {
    const max = this.channelMax || 65535;
    for (let i = 0; i < max; i++) {
      const id = this.nextChannelId;
      this.nextChannelId = id >= max ? 1 : id + 1;
      if (!this.channels.has(id) && !this.retired.has(id)) return id;
    }
    throw new ConnectionError(`all ${max} channels are in use`, { code: 'ERR_CHANNELS_EXHAUSTED', recoverable: false });
  }

  private notOpen(what: string): ConnectionError {
    return new ConnectionError(`cannot ${what}: the connection is ${this.lifecycle.state}`, {
      code: 'ERR_CONNECTION_CLOSED',
      cause: this.closeReason,
      recoverable: true,
    });
  }
}
