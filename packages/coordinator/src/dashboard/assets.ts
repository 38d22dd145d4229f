import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';

/**
 * The page's files. They are plain browser files, not compiled: `../../src/dashboard/static/`
 * resolves to the same folder from this module in src/ (tests on sources) and in dist/ (the
 * package as run), and the package ships src/.
 */
const STATIC_DIR = new URL('../../src/dashboard/static/', import.meta.url);

/** Only the coordinator's origin, no inline code: the page can load nothing from anywhere else. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/chart.js': { file: 'chart.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
  '/favicon.ico': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** The dashboard's static files, read once (about 20 KB). */
export class DashboardAssets {
  readonly #bodies = new Map<string, Buffer>();

  constructor() {
    for (const { file } of Object.values(FILES)) {
      if (this.#bodies.has(file)) continue;
      try {
        this.#bodies.set(file, readFileSync(new URL(file, STATIC_DIR)));
      } catch (e) {
        throw new Error(`dashboard file ${file} is missing from ${STATIC_DIR.pathname} (${(e as Error).message}): reinstall @cnn/coordinator`);
      }
    }
  }

  has(path: string): boolean {
    return path in FILES;
  }

  /** Answers GET (or HEAD) `path`, one of the page's files. */
  serve(path: string, res: ServerResponse, headOnly = false): void {
    const { file, type } = FILES[path];
    const body = this.#bodies.get(file)!;
    res.writeHead(200, {
      'content-type': type,
      'content-length': body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      ...(file === 'index.html' ? { 'content-security-policy': CONTENT_SECURITY_POLICY } : {}),
    });
    res.end(headOnly ? undefined : body);
  }
}
