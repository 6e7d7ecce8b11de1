// Fails when src/api/schema.d.ts is not what openapi-typescript makes from
// src/api/openapi.json (the OpenAPI document the Rust code generates): run
// `npm run gen:types` and commit the result.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'crema-types-'));
const fresh = join(dir, 'schema.d.ts');
try {
  execFileSync('npx', ['--no-install', 'openapi-typescript', 'src/api/openapi.json', '-o', fresh], { stdio: ['ignore', 'ignore', 'inherit'] });
  const a = readFileSync(fresh, 'utf8');
  const b = readFileSync('src/api/schema.d.ts', 'utf8');
  if (a !== b) {
    console.error('check:types: src/api/schema.d.ts is stale: run `npm run gen:types` in ui/ and commit it');
    process.exit(1);
  }
  console.log('check:types: src/api/schema.d.ts matches src/api/openapi.json');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
