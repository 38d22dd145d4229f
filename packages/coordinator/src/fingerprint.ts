import { createHash } from 'node:crypto';
import { type Network, kernelsId } from '@cnn/core';

/** Key-sorted JSON, so equal configs hash equally whatever order their keys were written in. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * What must be equal for two hosts' gradients of the same shard to be bitwise equal: the topology,
 * the parameter layout, the loss and the kernels that compute them.
 */
export function modelFingerprint(topology: unknown, network: Network, loss: unknown): string {
  const layout = network.params.map((p) => `${p.fullName}:${p.shape.join('x')}@${p.offset}`).join(';');
  return createHash('sha256').update(`${canonicalJson(topology)}\n${layout}\n${canonicalJson(loss)}\n${kernelsId()}`).digest('hex');
}
