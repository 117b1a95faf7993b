/** Size of one receive slab: what one read may fill at most, and what a retained body view can keep alive. */
const SLAB_SIZE = 64 * 1024;
/** With less room than this left in a slab, the next read gets a fresh slab instead of the tail. */
const MIN_READ_ROOM = 8 * 1024;

const ignore = (): void => {};

/**
 * Where the connection wants a read to go: the frame decoder's in-place body reads (see
 * FrameDecoder.readInto / readAtMost / placed).
 */
export interface ReadPlacement {
  /** A view to read the next bytes into, instead of a slab; undefined: a slab. */
  into(): Buffer | undefined;
  /** The most a slab read should take (0: as much as the slab holds). */
  atMost(): number;
  /** `n` bytes were read into the view `into` returned last. */
  placed(n: number): void;
}

/**
 * Reads a TCP socket into shared slabs (the `onread` option of `net.connect`) instead of the stream's
 * default of a fresh 64 KiB allocation per read, shrunk by a copy and pushed through the Readable
 * machinery. A busy consumer's socket yields thousands of small reads a second, so this is a large share
 * of its CPU.
 *
 * Each read fills the unused tail of the current slab, and a slab is never written twice: chunks handed
 * out (and the message bodies that are views into them) stay valid for as long as anyone holds them.
 * A body held for long keeps its whole slab alive; copy it (`Buffer.from(body)`) to keep it apart.
 */
export class SlabReads {
  /** Receives every chunk read; the connection sets it, and resets it when it no longer wants input. */
  onChunk: (chunk: Buffer) => void = ignore;
  /** Where reads go when not into a slab (large message bodies, read in place); the connection sets it. */
  placement: ReadPlacement | undefined;
  private slab = Buffer.allocUnsafe(SLAB_SIZE);
  private used = 0;
  /** The view the pending read goes into, when not a slab. */
  private direct: Buffer | undefined;

  /** The `onread` option for `net.connect`. */
  readonly onread = {
    buffer: (): Buffer => {
      const into = this.placement?.into();
      this.direct = into;
      if (into !== undefined) return into;
      if (SLAB_SIZE - this.used < MIN_READ_ROOM) {
        this.slab = Buffer.allocUnsafe(SLAB_SIZE);
        this.used = 0;
      }
      const atMost = this.placement?.atMost() ?? 0;
      return atMost > 0 ? this.slab.subarray(this.used, this.used + atMost) : this.slab.subarray(this.used);
    },
    // Node calls buffer() for the next read right after this returns, so `used` must be advanced here.
    // Returning false would pause the socket: reading never stops while the connection lives.
    callback: (nread: number, buf: Uint8Array): boolean => {
      if (buf === this.direct) {
        this.direct = undefined;
        this.placement?.placed(nread);
        return true;
      }
      this.used += nread;
      this.onChunk((buf as Buffer).subarray(0, nread));
      return true;
    },
  };

  /** Stops passing chunks on (the connection closed). */
  detach(): void {
    this.onChunk = ignore;
    this.placement = undefined;
  }
}
