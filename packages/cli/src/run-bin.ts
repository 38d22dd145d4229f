/**
 * Runs a command's `main` as a process's entry point (the files in bin/): its result is the exit
 * code; an error that escapes it is printed as its message alone and exits 1.
 */
export function runBin(main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
