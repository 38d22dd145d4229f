/**
 * The one line a progress bar redraws in place on the terminal. Anything else written to the
 * terminal while a bar is live (logs on stderr, a Ctrl-C notice) must clear that line first and let
 * the bar redraw after, or the two end up on one line.
 */
export interface LiveLine {
  clear(): void;
  redraw(): void;
}

let current: LiveLine | null = null;

export function setLiveLine(line: LiveLine | null): void {
  current = line;
}

/** Writes text (ending in a newline) to a terminal stream without tearing a live bar. */
export function writeAround(write: () => void): void {
  const line = current;
  if (!line) return write();
  // Clearing and redrawing are cosmetic: they must never cost the message (or the process).
  const quietly = (f: () => void) => {
    try {
      f();
    } catch {
      setLiveLine(null);
    }
  };
  quietly(() => line.clear());
  write();
  quietly(() => line.redraw());
}

/** console.error, but below a live bar rather than through it. */
export function printError(line: string): void {
  writeAround(() => process.stderr.write(`${line}\n`));
}
