import type { BlockSum } from '@cnn/core';
import type { WebSocket } from 'ws';
import { encode } from '../protocol/codec.js';
import { ProtocolError } from '../protocol/errors.js';
import { PROTOCOL_VERSION, type Result } from '../protocol/messages.js';
import { type HostLink, HostLost, type WorkOrder, type WorkResult } from './host-link.js';

interface Outstanding {
  readonly order: WorkOrder;
  readonly sentAt: number;
  resolve(result: WorkResult): void;
  reject(error: Error): void;
}

let nextWorkId = 1;

/** A host at the end of a WebSocket, after a completed handshake. */
export class RemoteHostLink implements HostLink {
  readonly id: string;
  readonly name: string;
  readonly threads: number;
  readonly address: string;
  readonly #socket: WebSocket;
  readonly #refuse: (code: 'CNN_PROTO_BAD_RESULT', message: string) => void;
  readonly #outstanding = new Map<number, Outstanding>();
  #alive = true;

  /** `refuse` closes the connection as the server closes any misbehaving one (reject frame, close code, log, event). */
  constructor(id: string, name: string, threads: number, address: string, socket: WebSocket, refuse: (code: 'CNN_PROTO_BAD_RESULT', message: string) => void) {
    this.id = id;
    this.name = name;
    this.threads = threads;
    this.address = address;
    this.#socket = socket;
    this.#refuse = refuse;
  }

  refuse(code: 'CNN_PROTO_BAD_RESULT', message: string): void {
    this.#refuse(code, message);
  }

  get alive(): boolean {
    return this.#alive;
  }

  compute(order: WorkOrder): Promise<WorkResult> {
    if (!this.#alive) return Promise.reject(new HostLost(`host ${this.id} is gone`));
    const work = nextWorkId++;
    const frame = encode({
      type: 'work', version: PROTOCOL_VERSION, work, step: order.request.step, epoch: order.request.epoch,
      batchStart: order.request.batchStart, batchSize: order.request.batchSize, shuffle: order.shuffle,
      pieces: order.pieces, params: order.params,
    });
    return new Promise<WorkResult>((resolve, reject) => {
      this.#outstanding.set(work, { order, sentAt: performance.now(), resolve, reject });
      this.#socket.send(frame, (error) => {
        if (error) this.lost(`send failed: ${error.message}`);
      });
    });
  }

  /** A validated result frame: must answer an outstanding order with exactly its pieces. */
  onResult(message: Result): void {
    const pending = this.#outstanding.get(message.work);
    if (!pending) throw new ProtocolError('CNN_PROTO_UNEXPECTED', `result for work ${message.work}, which is not outstanding on this connection`);
    const { order } = pending;
    if (message.step !== order.request.step) throw new ProtocolError('CNN_PROTO_BAD_FIELD', `result for work ${message.work} names step ${message.step + 1}, the order was for step ${order.request.step + 1}`);
    const asked = order.pieces;
    if (message.pieces.length !== asked.length || message.pieces.some((p, i) => p.start !== asked[i].start || p.len !== asked[i].len)) {
      throw new ProtocolError('CNN_PROTO_BAD_FIELD', `result for work ${message.work} does not hold the pieces ordered (${asked.map((p) => `[${p.start},+${p.len})`).join(' ')})`);
    }
    this.#outstanding.delete(message.work);
    const blocks: BlockSum[] = message.pieces.map((p) => ({ start: p.start, len: p.len, grad: p.grad, lossSum: p.lossSum, correct: p.correct, count: p.count }));
    pending.resolve({ blocks, computeMs: message.computeMs, roundTripMs: performance.now() - pending.sentAt, pool: null });
  }

  /**
   * The connection is gone or misbehaved: outstanding orders fail, so their pieces are reassigned. A
   * refused result (`fault`) answered the oldest order, since a host answers in order.
   */
  lost(why: string, fault?: { code: string; piece: number | undefined }): void {
    if (!this.#alive) return;
    this.#alive = false;
    let oldest = true;
    for (const o of this.#outstanding.values()) {
      const piece = oldest && fault?.piece !== undefined ? o.order.pieces[fault.piece] : undefined;
      o.reject(new HostLost(`host ${this.id} lost: ${why}`, oldest ? fault?.code : undefined, piece));
      oldest = false;
    }
    this.#outstanding.clear();
  }

  finish(reason: string): void {
    if (!this.#alive) return;
    this.#socket.send(encode({ type: 'done', version: PROTOCOL_VERSION, reason }), () => this.#socket.close(1000, 'run finished'));
    this.#alive = false;
  }
}
