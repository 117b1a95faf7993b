/**
 * Every seed that once broke an invariant, with the invariant and the cause that was fixed. `npm run sim`
 * runs each as a regression case beside the CI seeds (`SIM_SET=known npm run sim` runs only these;
 * `npx tsx test/sim/repro.ts` re-runs each 3 times and prints how often it fails).
 *
 * Most use a small targeted profile (profiles.ts) with few steps, so a trace stays short. Line numbers in
 * the causes are those of the code the seed failed on.
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

const RPC_DISCONNECT =
  'RpcClient.detach wrapped the ClientClosedError of a disconnect() into RpcConnectionLostError, so calls pending ' +
  'when the user disconnected were reported as a lost connection the model never saw (src/client/rpc/client.ts detach).';
const GIVEN_UP_CLOSE =
  'A setup attempt given up on (disconnect() during setup, a broker that stopped reading) closed its connection ' +
  'with a deadline of its own (SETUP_CLOSE_MS) after shutdown had stopped tracking it: disconnect() resolved ' +
  'while that close, its socket and timers, and the connect() promise waiting on it were still pending ' +
  '(src/client/session/session.ts shutdown).';

const ALONE_ONCE =
  'A message written alone because its exchange was new was charged with a channel close that named no message ' +
  '(a 404 about a queue, reported on the publish channel) only because it was alone at the time ' +
  '(src/client/publisher.ts charge): innocent, it was rejected with an error it did not cause.';

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
  // Seed 27 broke connection-left-open on 2875625; after the session rewrite it broke
  // rpc-rejected-without-reason instead (RPC_DISCONNECT): both are kept by this one seed.
  {
    seed: 27,
    profile: 'ci',
    breaks: ['connection-left-open', 'handle-leaked', 'rpc-rejected-without-reason'],
    cause: `${SETUP_DROP} Later: ${RPC_DISCONNECT}`,
    reproduces: '3/3',
  },
  // Found on the merged rewrite (session state machine, engine close deadline), profile `full`.
  {
    seed: 12,
    profile: 'full',
    breaks: ['promise-pending', 'connection-left-open', 'handle-leaked'],
    cause: GIVEN_UP_CLOSE,
    reproduces: '3/3',
  },
  {
    seed: 17,
    profile: 'full',
    breaks: ['promise-pending', 'connection-left-open'],
    cause: GIVEN_UP_CLOSE,
    reproduces: '3/3',
  },
  { seed: 23, profile: 'full', breaks: ['promise-pending'], cause: GIVEN_UP_CLOSE, reproduces: '3/3' },
  {
    seed: 28,
    profile: 'full',
    breaks: ['promise-pending', 'connection-left-open', 'handle-leaked'],
    cause: GIVEN_UP_CLOSE,
    reproduces: '3/3',
  },
  {
    seed: 32,
    profile: 'full',
    breaks: ['promise-pending', 'connection-left-open', 'handle-leaked'],
    cause: GIVEN_UP_CLOSE,
    reproduces: '3/3',
  },
  {
    seed: 130,
    profile: 'full',
    breaks: ['publish-rejected-without-reason'],
    cause: ALONE_ONCE,
    reproduces: '3/3',
  },
];
