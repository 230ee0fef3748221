const saved = new Map<string, string | undefined>();

/** Sets environment variables for one test; {@link restoreEnv} puts the old values back. */
export function setEnv(vars: Record<string, string>): void {
  for (const [name, value] of Object.entries(vars)) {
    if (!saved.has(name)) saved.set(name, process.env[name]);
    process.env[name] = value;
  }
}

export function restoreEnv(): void {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  saved.clear();
}

/** Removes every `OTEL_*` variable the test run inherited, so each test starts from none. */
export function clearOtelEnv(): void {
  for (const name of Object.keys(process.env)) {
    if (name.startsWith('OTEL_')) {
      if (!saved.has(name)) saved.set(name, process.env[name]);
      delete process.env[name];
    }
  }
}
