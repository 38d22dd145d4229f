import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Logs go to stderr (stdout carries the program's own output): JSON lines for machines and files,
 * pretty lines when stderr is a terminal.
 */
export function createLogger(name: string, level: LogLevel): Logger {
  if (process.stderr.isTTY) {
    return pino({ name, level }, pretty({ destination: 2, sync: true, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino({ name, level }, pino.destination({ dest: 2, sync: true }));
}
