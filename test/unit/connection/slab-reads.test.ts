/**
 * SlabReads, driven the way node:net drives an `onread` socket: buffer() gives the region for the next
 * read, the kernel fills part of it, callback(nread, region) reports it, then buffer() again.
 */
import { describe, expect, it } from 'vitest';
import { SlabReads } from '../../../src/connection/slab-reads.js';

function read(reads: SlabReads, region: Buffer, bytes: Buffer): void {
  bytes.copy(region);
  reads.onread.callback(bytes.length, region);
}

describe('SlabReads', () => {
  it('hands out each read as a chunk that later reads never overwrite', () => {
    const reads = new SlabReads();
    const chunks: Buffer[] = [];
    reads.onChunk = (c) => chunks.push(c);
    const sent: Buffer[] = [];
    let region = reads.onread.buffer();
    for (let i = 0; i < 200; i++) {
      // Sizes that use up slabs at uneven points, one read filling all the room it was given.
      const size = i === 50 ? region.length : 100 + ((i * 997) % 3000);
      const bytes = Buffer.alloc(size, i % 251);
      sent.push(bytes);
      read(reads, region, bytes);
      region = reads.onread.buffer();
    }
    expect(chunks).toHaveLength(200);
    chunks.forEach((c, i) => {
      expect(c.equals(sent[i]!)).toBe(true);
    });
  });

  it('reads into the unused tail of a slab, and starts a new one when too little room is left', () => {
    const reads = new SlabReads();
    reads.onChunk = () => {};
    const first = reads.onread.buffer();
    expect(first.length).toBe(64 * 1024);
    read(reads, first, Buffer.alloc(50 * 1024, 1));
    const tail = reads.onread.buffer();
    expect(tail.buffer === first.buffer).toBe(true); // same slab, 14 KiB left...
    expect(tail.byteOffset).toBe(first.byteOffset + 50 * 1024);
    expect(tail.length).toBe(14 * 1024);
    read(reads, tail, Buffer.alloc(7 * 1024, 2));
    const fresh = reads.onread.buffer(); // ...then 7 KiB, below the 8 KiB minimum: a new slab
    expect(fresh.buffer === first.buffer).toBe(false);
    expect(fresh.length).toBe(64 * 1024);
  });

  it('passes nothing on after detach', () => {
    const reads = new SlabReads();
    const chunks: Buffer[] = [];
    reads.onChunk = (c) => chunks.push(c);
    const region = reads.onread.buffer();
    reads.detach();
    read(reads, region, Buffer.from('late'));
    expect(chunks).toEqual([]);
  });
});
