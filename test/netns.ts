import { execFileSync } from 'node:child_process';

/**
 * Several hosts on one machine for real: network namespaces joined by veth pairs to a bridge in a
 * namespace of their own, each host with its own address. Needs root and iproute2; nothing outside
 * the namespaces is touched, and dispose() removes them all.
 */
export interface Lab {
  /** Prefix for a command to run inside host i: ['ip', 'netns', 'exec', name]. */
  exec(i: number): string[];
  address(i: number): string;
  dispose(): void;
}

const SUBNET = '10.213.77';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why namespaces cannot be made here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `cnnprobe${process.pid}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return null;
  } catch (e) {
    return `cannot create a network namespace: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}`;
  }
}

export function createLab(hosts: number): Lab {
  const tag = `${process.pid % 100000}`;
  const switchNs = `cnnsw${tag}`;
  const names = Array.from({ length: hosts }, (_, i) => `cnnh${tag}x${i}`);
  const created: string[] = [];
  const dispose = () => {
    for (const ns of created.reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  };
  try {
    ip('netns', 'add', switchNs);
    created.push(switchNs);
    ip('-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', switchNs, 'link', 'set', 'br0', 'up');
    names.forEach((ns, i) => {
      ip('netns', 'add', ns);
      created.push(ns);
      const inside = `cv${tag}i${i}`;
      const outside = `cv${tag}o${i}`;
      ip('link', 'add', inside, 'type', 'veth', 'peer', 'name', outside);
      ip('link', 'set', inside, 'netns', ns);
      ip('link', 'set', outside, 'netns', switchNs);
      ip('-n', switchNs, 'link', 'set', outside, 'master', 'br0');
      ip('-n', switchNs, 'link', 'set', outside, 'up');
      ip('-n', ns, 'addr', 'add', `${SUBNET}.${i + 1}/24`, 'dev', inside);
      ip('-n', ns, 'link', 'set', inside, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    });
  } catch (e) {
    dispose();
    throw e;
  }
  return {
    exec: (i) => ['ip', 'netns', 'exec', names[i], process.execPath],
    address: (i) => `${SUBNET}.${i + 1}`,
    dispose,
  };
}
