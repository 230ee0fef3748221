import { readFileSync } from 'node:fs';

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  name: string;
  /** The image or earlier stage it starts from. */
  from: string;
  instructions: Instruction[];
}

/**
 * The Dockerfile's build stages, each with its instructions (continuation lines joined, comments
 * dropped): enough to check the rules the images follow, since no Docker runs here.
 */
export function dockerfileStages(path: string): Stage[] {
  const logical = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword, args] = /^(\S+)\s+(.*)$/.exec(line)!;
    if (keyword!.toUpperCase() === 'FROM') {
      const [from, as, name] = args!.split(/\s+/);
      if (as?.toUpperCase() !== 'AS' || !name) throw new Error(`unnamed stage: ${line}`);
      stages.push({ name, from: from!, instructions: [] });
    } else {
      stages.at(-1)!.instructions.push({ keyword: keyword!.toUpperCase(), args: args! });
    }
  }
  return stages;
}

/** The arguments of a JSON-form instruction (`CMD ["node", "x.js"]`, `HEALTHCHECK … CMD [...]`). */
export function execForm(args: string): string[] {
  return JSON.parse(args.slice(args.indexOf('['))) as string[];
}
