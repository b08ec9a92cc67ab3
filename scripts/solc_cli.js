#!/usr/bin/env node
// A native-solc stand-in over the npm `solc` package (solc-js), so that py-solc-x and ape-solidity compile
// offline: they only need `--version` and `--standard-json`. stdout must stay pure JSON, which is why we do
// not use the stock `solcjs` (it prints a notice first).
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', 'node_modules', 'solc'));

const args = process.argv.slice(2);

function optionValues(name) {
  const values = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name && i + 1 < args.length) values.push(...args[i + 1].split(','));
    else if (args[i].startsWith(name + '=')) values.push(...args[i].slice(name.length + 1).split(','));
  }
  return values;
}

if (args.includes('--version')) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}

if (!args.includes('--standard-json')) {
  process.stderr.write('solc_cli.js: only --version and --standard-json are supported\n');
  process.exit(2);
}

// Imports resolve against the base path and include paths, the way native solc does.
const roots = [...optionValues('--base-path'), ...optionValues('--include-path'), process.cwd()];

function findImports(importPath) {
  for (const root of roots) {
    const candidate = path.resolve(root, importPath);
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
  }
  return { error: `File not found: ${importPath}` };
}

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
// Native solc reads `urls` sources itself; solc-js does not, so inline them.
for (const source of Object.values(input.sources || {})) {
  if (source.content === undefined && Array.isArray(source.urls)) {
    for (const url of source.urls) {
      const found = findImports(url);
      if (found.contents !== undefined) { source.content = found.contents; delete source.urls; break; }
    }
  }
}
process.stdout.write(solc.compile(JSON.stringify(input), { import: findImports }));
