// asyncapi_validate.mjs - checks schemas/events/asyncapi.yaml with the
// standard AsyncAPI parser (@asyncapi/parser, installed from this folder's
// lockfile by deploy/local/stack into node_modules/): the document against
// the AsyncAPI 3.0 schema and its rules (operations' messages belong to their
// channel, ids unique, ...), every $ref resolved, every payload schema valid.
// Any diagnostic of severity error or warning fails; the count of channels,
// operations and messages is printed. (The parser does not check the message
// examples against their payloads: tests/contracts/test_event_examples.py does.)
//
// Usage: node tests/contracts/asyncapi_validate.mjs [path/to/asyncapi.yaml]
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.env.SHANTANG_SOURCE_DIR || path.resolve(here, '..', '..');
const file = process.argv[2] || path.join(root, 'schemas', 'events', 'asyncapi.yaml');

let parserModule;
try {
  parserModule = await import('@asyncapi/parser');
} catch (e) {
  console.error(`FAIL: @asyncapi/parser is not installed in ${here}/node_modules ` +
    '(deploy/local/stack up or test installs it with npm ci): ' + e.message);
  process.exit(1);
}
const { Parser, fromFile, DiagnosticSeverity } = parserModule;
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, file).parse();
const severities = { [DiagnosticSeverity.Error]: 'error', [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info', [DiagnosticSeverity.Hint]: 'hint' };
let failed = 0;
for (const d of diagnostics) {
  const sev = severities[d.severity] || String(d.severity);
  const bad = d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning;
  if (bad) failed++;
  console.log(`${bad ? 'FAIL' : 'note'}: ${sev} ${d.code}: ${d.message} at /${(d.path || []).join('/')}`);
}
if (!document) {
  console.log('FAIL: the document did not parse');
  process.exit(1);
}
console.log(`${document.channels().length} channels, ${document.operations().length} operations, ` +
  `${document.components().messages().length} messages; ${failed} errors or warnings`);
process.exit(failed ? 1 : 0);
