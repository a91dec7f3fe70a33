'use strict';
// The build step: copies src/ to dist/ with a banner, and writes dist/build-info.json.
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist, { recursive: true });
const banner = `/* ${pkg.name} ${pkg.version}: built by scripts/build.js */\n`;
const files = fs.readdirSync(src).filter((f) => f.endsWith('.js')).sort();
for (const f of files) {
  fs.writeFileSync(path.join(dist, f), banner + fs.readFileSync(path.join(src, f), 'utf8'));
}
const deps = Object.keys(pkg.dependencies || {}).sort();
fs.writeFileSync(
  path.join(dist, 'build-info.json'),
  JSON.stringify({ name: pkg.name, version: pkg.version, files, dependencies: deps }, null, 2) + '\n',
);
console.log(`built ${files.length} files into dist/`);
