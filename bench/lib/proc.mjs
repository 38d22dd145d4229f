/** Runs one measurement process (ours or torch's) and collects the JSON lines it prints. */
import { spawn } from 'node:child_process';

/** Lines of stderr kept for an error message when a child fails. */
const STDERR_TAIL_LINES = 30;

export function runJsonLines(command, args, { env = process.env, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', (err) => reject(new Error(`could not start ${command}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code !== 0) {
        const tail = stderr.trimEnd().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
        reject(new Error(`${command} ${args.join(' ')}\nexited with ${signal ?? `code ${code}`}:\n${tail}`));
        return;
      }
      const records = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      resolve({ records, stderr });
    });
  });
}
