// Builds web/dist/: the page's own files plus Chart.js's prebuilt UMD file, copied as they are
// (no bundler, no network), so the C++ build can embed a flat directory.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const dist = join(here, 'dist');

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

for (const name of readdirSync(src)) copyFileSync(join(src, name), join(dist, name));

// The minified UMD build defines window.Chart; its source-map comment is dropped because the
// map is not shipped (a browser with dev tools open would otherwise ask for it and get a 404).
const chart = readFileSync(join(here, 'node_modules/chart.js/dist/chart.umd.min.js'), 'utf8');
writeFileSync(join(dist, 'chart.umd.min.js'),
              chart.replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n'));

console.log(`web/dist: ${readdirSync(dist).join(', ')}`);
