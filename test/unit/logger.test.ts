import { execFile } from 'node:child_process';
import { promisify, stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const FIXTURE = 'test/fixtures/log-lines.ts';

/** Runs the fixture with its stdout on a pseudo-terminal (util-linux `script`), as a person's shell would. */
async function inTerminal(mode: string): Promise<string> {
  const { stdout } = await run('script', ['-qec', `${process.execPath} ${FIXTURE} ${mode}`, '/dev/null']);
  // Colours and the terminal's carriage returns are not what this test is about.
  return stripVTControlCharacters(stdout).replace(/\r/g, '');
}

describe('log lines', () => {
  it('are readable lines in a terminal outside production', async () => {
    const out = await inTerminal('pretty');
    expect(out).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: AGNT all listening on port 3000 .*"http\.port":3000/m,
    );
    expect(out).toMatch(/WARN: no language model configured/);
    expect(out).not.toMatch(/"level":/);
  });

  it('stay JSON in a terminal in production, and in a pipe always', async () => {
    const production = (await inTerminal('json')).trim().split('\n');
    expect(production.map((line) => JSON.parse(line).msg).sort()).toEqual([
      'AGNT all listening on port 3000',
      'no language model configured',
    ]);
    const { stdout } = await run(process.execPath, [FIXTURE, 'pretty']);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).level)
        .sort(),
    ).toEqual([30, 40]);
  });
});
