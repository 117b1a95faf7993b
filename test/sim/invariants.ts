/**
 * The end-of-run checks: every publish and RPC promise settled once and for a reason the broker model can
 * vouch for. (The ack checks run live, in the model; the disconnect and leak checks in run.ts.)
 */
import type { PublishEntry, RpcEntry } from './driver.js';
import { errText } from './driver.js';
import type { Ledger } from './state.js';

/** How many unexplained channel failures a message may live through (Publisher's maxChannelFailures default). */
export const MAX_CHANNEL_FAILURES = 3;

function codeOf(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/**
 * True when `err` is a channel error some publish caused and its text names this message: its exchange
 * (404 no exchange, 403 access refused) or its size (406 too large). Such a message could not have
 * succeeded either, so being rejected with it is no injustice.
 */
function namesIt(err: unknown, ledger: Ledger, exchange: string, bytes: number): boolean {
  const text = (err as { replyText?: unknown } | null)?.replyText;
  if (typeof text !== 'string' || !ledger.culpritTexts.has(text)) return false;
  return (exchange !== '' && text.includes(`exchange '${exchange}'`)) || text.includes(`message size ${bytes} `);
}

function replyCodeOf(err: unknown): number | undefined {
  const c = (err as { replyCode?: unknown } | null)?.replyCode;
  return typeof c === 'number' ? c : undefined;
}

export function checkPublish(e: PublishEntry, ledger: Ledger): void {
  if (e.settles === 0) return; // reported as pending by the caller
  if (e.settles > 1) ledger.violate('publish-settled-once', `${e.what} settled ${e.settles} times`);
  const rec = ledger.publishes.get(e.pubId);
  const accepted = rec?.accepted ?? 0;
  const o = e.outcome!;
  const seen = rec
    ? `model: received ${rec.received}, accepted ${rec.accepted}, nacked ${rec.nacked}, returned ${rec.returned}${rec.culprit ? `, caused "${rec.culprit}"` : ''}`
    : 'model never received it';
  if (o.ok) {
    if (accepted === 0) ledger.violate('publish-resolved-unaccepted', `${e.what} resolved, but the ${seen}`);
    return;
  }
  const err = o.error;
  const code = codeOf(err);
  let legit: boolean;
  switch (code) {
    case 'ERR_UNROUTABLE':
      legit = (rec?.returned ?? 0) > 0;
      break;
    case 'ERR_PUBLISH_NACKED':
      legit = (rec?.nacked ?? 0) > 0;
      break;
    case 'ERR_CLIENT_CLOSED':
      // disconnect() (or a failed connect()) ends what is pending; a message whose ack was written before
      // disconnect() began had plenty of time to be confirmed.
      legit =
        (e.closedAtSettle || e.stateAtStart === 'idle') &&
        (rec?.accepted ?? 0) === (rec?.acceptedWhileDisconnecting ?? 0);
      break;
    default:
      // A channel error: only the message that caused it, or one that lived through enough unexplained
      // channel failures, may be rejected with it.
      legit =
        replyCodeOf(err) !== undefined &&
        (rec?.culprit !== undefined ||
          namesIt(err, ledger, e.exchange, e.bytes) ||
          ledger.confirmClosesBetween(e.startedAt, e.settledAt ?? Number.MAX_SAFE_INTEGER) >= MAX_CHANNEL_FAILURES);
  }
  if (legit) return;
  if (accepted > 0) ledger.violate('accepted-not-resolved', `${e.what} rejected (${errText(err)}), but the ${seen}`);
  else ledger.violate('publish-rejected-without-reason', `${e.what} rejected (${errText(err)}), but the ${seen}`);
}

export function checkRpc(e: RpcEntry, ledger: Ledger): void {
  if (e.settles === 0) return;
  if (e.settles > 1) ledger.violate('rpc-settled-once', `${e.what} settled ${e.settles} times`);
  const o = e.outcome!;
  if (o.ok) {
    const v = o.value as { echo?: unknown } | null;
    if (e.kind !== 'ok' || v?.echo !== e.n)
      ledger.violate('rpc-wrong-result', `${e.what} resolved with ${JSON.stringify(o.value)}`);
    return;
  }
  const err = o.error;
  const disrupted = ledger.disruptionsBetween(e.startedMs, e.settledMs) > 0;
  let legit: boolean;
  switch (codeOf(err)) {
    case 'ERR_RPC_TIMEOUT':
      legit = true;
      break;
    case 'ERR_RPC_REMOTE':
      legit = e.kind === 'remote-fail';
      break;
    case 'ERR_RPC_NO_SERVER':
      legit = ledger.rpcReturned.has(e.body);
      break;
    case 'ERR_RPC_CONNECTION_LOST':
      legit = disrupted;
      break;
    case 'ERR_CLIENT_CLOSED':
      legit = e.closedAtSettle || e.stateAtStart === 'idle';
      break;
    default:
      legit =
        replyCodeOf(err) !== undefined &&
        (ledger.rpcCulprits.has(e.body) || namesIt(err, ledger, e.exchange, -1) || disrupted);
  }
  if (!legit) {
    const culprit = ledger.rpcCulprits.get(e.body);
    ledger.violate(
      'rpc-rejected-without-reason',
      `${e.what} rejected (${errText(err)}); the model saw ${disrupted ? 'a disruption' : 'no disruption'} meanwhile${culprit ? `, and this request caused "${culprit}"` : ''}`,
    );
  }
}
