import type { ProgressSink } from './render.js';

/** Where a command reads and writes (the process's streams, or fakes in tests). */
export interface CliIO {
  /** A line on stdout. */
  out(line: string): void;
  /** A line on stderr. */
  err(line: string): void;
  /** All of stdin. */
  stdin(): Promise<Buffer>;
  /** Whether stdin is a terminal: then nothing is piped in, and waiting on it would hang. */
  stdinIsTTY: boolean;
  /** Progress bars go here (stderr): redrawn in place only when it is a terminal. */
  progress: ProgressSink;
  /** Resolves when the user asks the command to stop (SIGINT or SIGTERM). */
  interrupted: Promise<void>;
}
