import { existsSync } from 'node:fs';
import type { BrowserContext } from 'playwright-core';
import { tempDir } from '../cli-helpers.js';

/** Debian's Chromium (scripts/test-prereqs.sh installs it); playwright-core drives it, never downloads one. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Flags that keep Chromium headless, sandbox-free (we run as root) and off the network: without the
 * background-networking ones it keeps dialling Google's hosts, which this machine refuses.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why the browser tests cannot run here, or null when they can. */
export function chromiumUnavailable(): string | null {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (scripts/test-prereqs.sh installs Debian's chromium when run as root)`;
  return null;
}

/** A headless Chromium with a fresh, empty profile. */
export async function launchChromium(): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(tempDir('chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 1000 },
  });
}
