/**
 * Runs one measured (client, scenario) in its own process, so no client inherits another's heap, GC or
 * JIT state. Started by bench/run.ts as:
 *
 *   node --import tsx bench/worker.ts <client> <scenario> <messages> <queue>
 *
 * The queue is prepared by the orchestrator. Prints one `@@result <json>` line on stdout (or
 * `@@error <message>` and exit code 1); everything else goes to stderr.
 */
import { CLIENTS } from './clients/index.js';
import { ERROR_MARK, loadConfig, RESULT_MARK } from './config.js';
import { SCENARIOS } from './scenarios/index.js';

function finish(line: string, code: number): void {
  process.stdout.write(`${line}\n`, () => process.exit(code));
}

async function main(): Promise<void> {
  const [clientName = '', scenarioName = '', count = '', queue = ''] = process.argv.slice(2);
  const entry = CLIENTS[clientName];
  const scenario = SCENARIOS[scenarioName];
  const n = Number(count);
  if (!entry || !scenario || !Number.isInteger(n) || n <= 0 || !queue) {
    throw new Error(
      `usage: worker.ts <${Object.keys(CLIENTS).join('|')}> <${Object.keys(SCENARIOS).join('|')}> <messages> <queue>`,
    );
  }
  const client = (await entry.load()).default;
  if (!scenario.supports(client)) throw new Error(`${clientName} does not implement ${scenarioName}`);
  const config = loadConfig();
  const result = await scenario.run(client, { url: config.url, queue, n, config });
  finish(RESULT_MARK + JSON.stringify(result), 0);
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  finish(ERROR_MARK + JSON.stringify(message), 1);
});
