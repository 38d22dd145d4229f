/**
 * A small flag parser in the style of the torch script's argparse: `--name value`, `--name v1 v2 ...`
 * for lists (nargs="+"), `--flag` / `--no-flag` for booleans. Every value is checked eagerly and an
 * error names the flag, the value and what was expected.
 */

export class UsageError extends Error {}

/**
 * Runs a bench script's main(argv): a UsageError prints its message and the usage (exit 2), any
 * other error its stack (exit 1). `name` prefixes the message (bench:threads, train-throughput, ...).
 */
export function runMain(name, usage, main) {
  main(process.argv.slice(2)).catch((err) => {
    if (err instanceof UsageError) {
      console.error(`${name}: ${err.message}${usage ? `\n\n${usage}` : ''}`);
      process.exit(2);
    }
    console.error(`${name}: ${err.stack ?? err.message}`);
    process.exit(1);
  });
}

const PARSERS = {
  int: (flag, v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got '${v}'`);
    return n;
  },
  float: (flag, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a non-negative number, got '${v}'`);
    return n;
  },
  string: (_flag, v) => v,
};

/**
 * spec: { camelName: { type: 'int'|'float'|'string'|'bool', list?: true, choices?: [...] } }.
 * Returns only the flags that were given (defaults are the caller's, kept in one object).
 */
export function parseFlags(argv, spec) {
  const byFlag = new Map(Object.entries(spec).map(([key, s]) => [`--${kebab(key)}`, { key, ...s }]));
  const out = {};
  // `pnpm bench -- --models seed` may hand the script a bare `--`; it separates nothing here.
  const args = argv.filter((a) => a !== '--');
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const negated = arg.startsWith('--no-') && byFlag.get(`--${arg.slice(5)}`)?.type === 'bool';
    const s = negated ? byFlag.get(`--${arg.slice(5)}`) : byFlag.get(arg);
    if (!s) throw new UsageError(`unknown argument '${arg}'; valid flags: ${[...byFlag.keys()].join(' ')}`);
    if (s.type === 'bool') {
      out[s.key] = !negated;
      continue;
    }
    const values = [];
    while (i + 1 < args.length && !args[i + 1].startsWith('--') && (s.list || values.length === 0)) values.push(args[++i]);
    if (values.length === 0) throw new UsageError(`${arg} needs ${s.list ? 'one or more values' : 'a value'}`);
    const parsed = values.map((v) => {
      if (s.choices && !s.choices.includes(v)) throw new UsageError(`${arg}: '${v}' is not one of ${s.choices.join(', ')}`);
      return PARSERS[s.type](arg, v);
    });
    out[s.key] = s.list ? parsed : parsed[0];
  }
  return out;
}

export function kebab(name) {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
