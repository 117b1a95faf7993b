/**
 * A 64-bit AMQP timestamp that no `Date` can hold (beyond ±8.64e12 s, Date's range), as other clients may
 * legally send. It is an invalid Date (`getTime()` is NaN), so code that formats dates does not crash, and
 * keeps the exact signed 64-bit value in {@link seconds}; written back, it encodes to the same 8 bytes.
 *
 * @example
 * ```ts
 * const ts = delivery.properties.timestamp;
 * if (ts instanceof RawTimestamp) console.log('timestamp out of Date range:', ts.seconds); // bigint
 * ```
 */
export class RawTimestamp extends Date {
  /** The timestamp as sent: seconds since the epoch, a signed 64-bit integer. */
  readonly seconds: bigint;

  constructor(seconds: bigint) {
    super(Number.NaN);
    this.seconds = seconds;
  }
}

/** Largest |seconds| a Date holds exactly (its range is ±8.64e15 ms). */
export const MAX_DATE_SECONDS = 8.64e12;
