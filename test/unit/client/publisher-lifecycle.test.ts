/**
 * Publisher promises settle exactly once, only on a broker confirm (or a final error), however the owner
 * sequences attach/detach.
 */
import { describe, expect, it, vi } from 'vitest';
import { Publisher } from '../../../src/client/publisher.js';
import { ConnectionError, WarrenError } from '../../../src/protocol/errors.js';
import { FakeConfirmChannel, flush, message, track } from './publisher-fakes.js';

describe('Publisher: channel hand-over', () => {
  it('attach() of a new channel without detach() of the old one writes the old one’s unconfirmed messages again', async () => {
    const p = new Publisher();
    const ch1 = new FakeConfirmChannel();
    p.attach(ch1.asChannel());
    const a = track(p, message('a'));
    const b = track(p, message('b'));
    ch1.ack('a');
    const ch2 = new FakeConfirmChannel();
    p.attach(ch2.asChannel());
    expect(ch2.ids).toEqual(['b']);
    // The old channel's return listener is gone: a return there changes nothing.
    ch1.returnOf(ch1.written[1]!, Buffer.alloc(10, 1));
    ch2.ackAll();
    await flush();
    expect([a.state, b.state]).toEqual(['resolved', 'resolved']);
    expect(b.settlements).toBe(1);
    expect(p.size).toBe(0);
  });

  it('a channel that closes without its owner calling detach() gives its messages back all the same', async () => {
    const p = new Publisher();
    const ch1 = new FakeConfirmChannel();
    p.attach(ch1.asChannel());
    const a = track(p, message('a'));
    ch1.close(new ConnectionError('connection lost'));
    await flush();
    expect(a.state).toBe('pending');
    expect(p.inFlight).toBe(0);
    expect(p.size).toBe(1);
    const ch2 = new FakeConfirmChannel();
    p.attach(ch2.asChannel());
    expect(ch2.ids).toEqual(['a']);
    ch2.ackAll();
    await flush();
    expect(a.state).toBe('resolved');
  });

  it('a late ack on the old channel settles the message once; its second write’s ack changes nothing', async () => {
    const p = new Publisher();
    const ch1 = new FakeConfirmChannel();
    p.attach(ch1.asChannel());
    const a = track(p, message('a'));
    p.detach(new Error('publish channel replaced')); // still open: late confirms may come
    const ch2 = new FakeConfirmChannel();
    p.attach(ch2.asChannel());
    expect(ch2.ids).toEqual(['a']);
    ch1.ack('a');
    ch2.ack('a');
    await flush();
    expect(a.state).toBe('resolved');
    expect(a.settlements).toBe(1);
    expect(p.size).toBe(0);
    expect(p.inFlight).toBe(0);
  });
});

describe('Publisher: an owner that replaces a nacking channel at once', () => {
  it('the nacked message is written once on the new channel and settles once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const p = new Publisher();
      const channels: FakeConfirmChannel[] = [];
      const open = () => {
        const ch = new FakeConfirmChannel();
        channels.push(ch);
        p.attach(ch.asChannel());
      };
      // As AsyncRabbitMQ does: detach the nacking channel synchronously, from within the callback.
      p.onNackingChannel = () => {
        p.detach(new WarrenError('publish channel replaced', { code: 'ERR_CHANNEL_REPLACED' }));
        open();
      };
      open();
      const m = track(p, message('m'));
      const other = track(p, message('other'));
      channels[0]!.nack('m');
      vi.advanceTimersByTime(100);
      channels[0]!.nack(3); // the second nack of 'm': the channel is reported and replaced
      expect(channels).toHaveLength(2);
      vi.advanceTimersByTime(5000);
      expect(channels[1]!.ids).toEqual(['other', 'm']);
      expect(p.inFlight).toBe(2);
      channels[1]!.ackAll();
      await flush();
      expect([m.state, other.state]).toEqual(['resolved', 'resolved']);
      expect(m.settlements + other.settlements).toBe(2);
      expect(p.size).toBe(0);
      expect(p.inFlight).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
