import pino, { type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { writeAround } from './progress/live-line.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Logs go to stderr (stdout carries the program's own output): JSON lines for machines and files,
 * pretty lines when stderr is a terminal, written below a live progress bar rather than through it.
 */
export function createLogger(name: string, level: LogLevel): Logger {
  if (process.stderr.isTTY) {
    const prettify = prettyFactory({ colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' });
    return pino({ name, level }, { write: (line: string) => writeAround(() => process.stderr.write(prettify(line))) });
  }
  return pino({ name, level }, pino.destination({ dest: 2, sync: true }));
}
