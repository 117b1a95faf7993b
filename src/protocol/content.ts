import { type DecodeError, ProtocolError } from './errors.js';
import type { BasicProperties, Method } from './spec.js';

/** A method that carries content (basic.deliver, basic.return, basic.get-ok), with its content. */
export interface ContentMessage<M extends Method = Method> {
  method: M;
  properties: BasicProperties;
  /** The body; a view into the received bytes when it arrived in one frame. */
  body: Buffer;
  /** Set when the content header's properties could not be decoded (`properties` is then `{}`). */
  decodeError: DecodeError | undefined;
}

const EMPTY = Buffer.alloc(0);

/**
 * Puts one channel's content-bearing method, content header and body frames back together.
 *
 * The spec requires the header to follow the method immediately and the body frames to follow the header
 * with nothing else on the channel in between; anything out of that order is a 505 unexpected-frame.
 * A body that arrives in a single frame is passed on as that frame's view, not copied.
 */
export class ContentAssembler {
  private method: Method | null = null;
  private properties: BasicProperties | null = null;
  private decodeError: DecodeError | undefined;
  private bodySize = 0;
  private received = 0;
  private first: Buffer | null = null;
  private gathered: Buffer | null = null;
  /** The view last handed out by {@link target} (cleared by reset: bytes placed after it are ignored). */
  private handed: Buffer | null = null;

  /** True while a content-bearing method waits for its header or body. */
  get busy(): boolean {
    return this.method !== null;
  }

  /** Starts a message with its method. */
  start(method: Method): void {
    if (this.method !== null) {
      throw new ProtocolError(505, `${method.name} arrived while the content of ${this.method.name} was incomplete`);
    }
    this.method = method;
  }

  /** Takes the content header; returns the message at once when its body is empty. */
  header(bodySize: number, properties: BasicProperties, decodeError?: DecodeError): ContentMessage | null {
    if (this.method === null || this.properties !== null) {
      throw new ProtocolError(505, 'content header frame without a preceding content method');
    }
    this.properties = properties;
    this.decodeError = decodeError;
    this.bodySize = bodySize;
    return bodySize === 0 ? this.complete(EMPTY) : null;
  }

  /** Takes a body frame; returns the message once the body is whole. */
  body(payload: Buffer): ContentMessage | null {
    if (this.properties === null) {
      throw new ProtocolError(505, 'content body frame without a preceding content header');
    }
    const total = this.received + payload.length;
    if (total > this.bodySize) {
      throw new ProtocolError(501, `content body of ${total} bytes exceeds the declared ${this.bodySize}`);
    }
    if (this.received === 0 && total === this.bodySize) return this.complete(payload);
    if (this.gathered === null && this.first === null) {
      this.first = payload;
      this.received = total;
      return null;
    }
    const gathered = this.gather();
    payload.copy(gathered, this.received);
    this.received = total;
    return total === this.bodySize ? this.complete(gathered) : null;
  }

  /**
   * A view of the body's own buffer for its next `n` bytes, to read them there in place (see
   * {@link placed}); null when no body is being received or fewer than `n` bytes of it are to come.
   * The buffer is allocated here if it was not yet (a part that came before is copied into it).
   */
  target(n: number): Buffer | null {
    if (this.properties === null || n <= 0 || this.received + n > this.bodySize) return null;
    this.handed = this.gather().subarray(this.received, this.received + n);
    return this.handed;
  }

  /** The body's own buffer, allocated on first need, with the part held as a view (if any) copied in. */
  private gather(): Buffer {
    if (this.gathered === null) {
      this.gathered = Buffer.allocUnsafe(this.bodySize);
      if (this.first !== null) {
        this.first.copy(this.gathered, 0);
        this.first = null;
      }
    }
    return this.gathered;
  }

  /**
   * The first `n` bytes of the view {@link target} returned last hold the body's next bytes; returns the
   * message once the body is whole. Ignored (null) when the message was given up since (reset).
   */
  placed(n: number): ContentMessage | null {
    const handed = this.handed;
    if (handed === null) return null;
    if (n > handed.length) {
      throw new ProtocolError(501, `${n} body bytes placed into a view of ${handed.length}`);
    }
    this.handed = n === handed.length ? null : handed.subarray(n);
    this.received += n;
    return this.received === this.bodySize ? this.complete(this.gathered!) : null;
  }

  /** Forgets a partial message (the channel closed). */
  reset(): void {
    this.method = null;
    this.properties = null;
    this.decodeError = undefined;
    this.first = null;
    this.gathered = null;
    this.handed = null;
    this.received = 0;
    this.bodySize = 0;
  }

  private complete(body: Buffer): ContentMessage {
    const message: ContentMessage = {
      method: this.method!,
      properties: this.properties!,
      body,
      decodeError: this.decodeError,
    };
    this.reset();
    return message;
  }
}
