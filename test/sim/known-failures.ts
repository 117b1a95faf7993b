/**
 * Seeds that break an invariant on today's main, with the invariant and the likely cause. They are NOT in
 * the CI set yet: the fixes are being made on other branches. Once a fix lands, move its seeds into CI
 * (`SIM_SET=known npm run sim` runs them all and passes only when every one passes; `npx tsx
 * test/sim/repro.ts` re-runs each 3 times and prints how often it still fails).
 *
 * Each uses a small targeted profile (profiles.ts) with few steps, so its trace is short.
 */
import type { ProfileName } from './profiles.js';
import type { InvariantName } from './state.js';

export interface KnownFailure {
  seed: number;
  profile: ProfileName;
  /** The invariant(s) the seed breaks today. */
  breaks: InvariantName[];
  /** What goes wrong, and where in the code (as of main 2875625). */
  cause: string;
  /** How often it failed when run 3 times on main 2875625. */
  reproduces: string;
}

const RETURN_BY_ID =
  'Publisher.onReturn matches a basic.return to the first in-flight message with the same messageId and routing key ' +
  '(src/client/publisher.ts:341-352), not the exchange nor the publish order: the routed twin is rejected as ' +
  'unroutable and the returned twin resolves.';
const POISON =
  'A 406/403 channel error is not traced to its culprit (only 404 is, src/client/async-rabbitmq.ts:445-456), so ' +
  'Publisher.detach counts it against every message in flight (src/client/publisher.ts:188-196): after 3 such ' +
  "closes innocent messages are rejected with the other message's error.";
const RPC_404 =
  'RpcClient.onChannelClose rejects every call pending on the reply channel with the ChannelError one request ' +
  'caused (src/client/rpc.ts:287-297): an RPC to a missing exchange fails the concurrent ones.';
const ACK_ORDER =
  'A large publish (> 64 KiB) takes the bytes pending in the writer (a nack) into its chunk list ' +
  '(src/protocol/frame.ts:204), then FrameOutput.writeChunks flushes first, running the beforeFlush hook that ' +
  'writes the coalesced ack (src/connection/frame-output.ts:58-61, src/connection/ack-flush.ts:36-39): the later ' +
  'ack reaches the broker before the earlier nack.';
const SETUP_DROP =
  'openSession watches the new connection (src/client/async-rabbitmq.ts:392) before the participants attach; a ' +
  'drop during attach calls lost(), which starts a reconnect loop (:509) while establish() also fails into the ' +
  "running connRetry/reconnect loop (:404): two loops connect in parallel and the loser's connection (with " +
  'consumers on it) is never closed.';
const NO_REPLY =
  'Synchronous methods wait for their reply without a bound (src/connection/rpc-queue.ts call, ' +
  'src/client/topology.ts): connect() never settles when a setup method is not answered, and disconnect() awaits ' +
  'it (src/client/async-rabbitmq.ts:326).';
const STOP_READING =
  'With heartbeats off nothing notices a broker that went silent; Connection.close() waits for close-ok without ' +
  'a bound (src/connection/connection.ts:149-158), so disconnect() hangs (and a connection given up during ' +
  'setup is left open).';

const RPC_CLOSED_CHANNEL =
  'RpcClient passes engine errors about a reply channel that closed under it straight to the caller: send() ' +
  'publishes on the channel replyChannel() returned even when it closed in between, and open() rejects with ' +
  'the basic.consume failure of a channel closed while opening (src/client/rpc.ts:180-186, 196-199, 229-239). ' +
  'The caller gets "cannot basic.publish/consume: channel N is closed" (a ChannelError with no reply code), ' +
  'not a recoverable RpcConnectionLostError, nor a retry on the next channel.';

export const KNOWN_FAILURES: readonly KnownFailure[] = [
  {
    seed: 1,
    profile: 'same-id',
    breaks: ['accepted-not-resolved', 'publish-resolved-unaccepted'],
    cause: RETURN_BY_ID,
    reproduces: '3/3',
  },
  {
    seed: 2,
    profile: 'same-id',
    breaks: ['accepted-not-resolved', 'publish-resolved-unaccepted'],
    cause: RETURN_BY_ID,
    reproduces: '3/3',
  },
  { seed: 11, profile: 'poison', breaks: ['publish-rejected-without-reason'], cause: POISON, reproduces: '3/3' },
  {
    seed: 1,
    profile: 'rpc-missing-exchange',
    breaks: ['rpc-rejected-without-reason'],
    cause: RPC_404,
    reproduces: '3/3',
  },
  {
    seed: 2,
    profile: 'rpc-missing-exchange',
    breaks: ['rpc-rejected-without-reason'],
    cause: RPC_404,
    reproduces: '3/3',
  },
  { seed: 12, profile: 'ack-order', breaks: ['ack-reordered'], cause: ACK_ORDER, reproduces: '3/3' },
  { seed: 13, profile: 'ack-order', breaks: ['ack-reordered'], cause: ACK_ORDER, reproduces: '3/3' },
  {
    seed: 1,
    profile: 'drops',
    breaks: ['connection-left-open', 'handle-leaked'],
    cause: SETUP_DROP,
    reproduces: '3/3',
  },
  {
    seed: 4,
    profile: 'drops',
    breaks: ['connection-left-open', 'handle-leaked'],
    cause: SETUP_DROP,
    reproduces: '3/4',
  },
  { seed: 4, profile: 'no-reply', breaks: ['disconnect-hung'], cause: NO_REPLY, reproduces: '3/3' },
  { seed: 4, profile: 'stop-reading', breaks: ['disconnect-hung'], cause: STOP_READING, reproduces: '3/3' },
  { seed: 68, profile: 'ci', breaks: ['rpc-rejected-without-reason'], cause: RPC_CLOSED_CHANNEL, reproduces: '5/6' },
  { seed: 27, profile: 'ci', breaks: ['connection-left-open', 'handle-leaked'], cause: SETUP_DROP, reproduces: '3/3' },
];
