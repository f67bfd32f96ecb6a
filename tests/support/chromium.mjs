// Headless Chromium for the page and browser tests: the Debian binary driven by playwright-core
// (`npx playwright install` cannot download here). One launcher, so every test runs it alike.

import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const { chromium } = createRequire(import.meta.url)('playwright-core');

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Chromium; with `home`, its config and crash folders go there (a /tmp folder). */
export function launchChromium({ home } = {}) {
  const executablePath = execFileSync('bash', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  const env = home ? { ...process.env, HOME: home, XDG_CONFIG_HOME: home, XDG_CACHE_HOME: home } : undefined;
  return chromium.launch({ executablePath, headless: true, args: ARGS, ...(env ? { env } : {}) });
}
