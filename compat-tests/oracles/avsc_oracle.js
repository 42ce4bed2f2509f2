#!/usr/bin/env node
// npm `avsc` as a reference checker for Avro reader/writer compatibility.
//
// Reads JSON lines on stdin:
//   {"id": "any", "reader": "<reader schema JSON text>", "writer": "<writer schema JSON text>"}
// and prints one JSON line per input, in order:
//   {"id": "any", "compatible": true|false|null, "error": null|"..."}
//
// compatible = `Type.forSchema(reader).createResolver(Type.forSchema(writer))` succeeds. A schema
// that fails to parse gives `compatible: null` and the error; a resolver failure gives
// `compatible: false` and avsc's message.
//
// avsc is found on NODE_PATH, else in `<repo>/.oracles/node/node_modules` (where `.ci/install-oracles`
// puts it). avsc is not what Confluent runs: it compares full names (a namespace-only change
// fails) and requires a union default to match the first branch; see COMPAT_RULES.md.
'use strict';

const path = require('path');
const readline = require('readline');

const REPO = path.resolve(__dirname, '..', '..');

function loadAvsc() {
  try {
    return require('avsc');
  } catch (_) {
    // NODE_PATH unset or without avsc: use the repository's oracle install.
  }
  try {
    return require(path.join(REPO, '.oracles', 'node', 'node_modules', 'avsc'));
  } catch (e) {
    process.stderr.write(
      `avsc_oracle: cannot load avsc (${e.message}); run .ci/install-oracles or set NODE_PATH ` +
        'to a node_modules directory holding avsc@5.7.9\n'
    );
    process.exit(1);
  }
}

const avro = loadAvsc();

function parse(label, text) {
  try {
    return { type: avro.Type.forSchema(JSON.parse(text)) };
  } catch (e) {
    return { error: `${label} schema does not parse: ${e.message}` };
  }
}

function check(request) {
  const reader = parse('reader', request.reader);
  if (reader.error) return { compatible: null, error: reader.error };
  const writer = parse('writer', request.writer);
  if (writer.error) return { compatible: null, error: writer.error };
  try {
    reader.type.createResolver(writer.type);
    return { compatible: true, error: null };
  } catch (e) {
    return { compatible: false, error: e.message };
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const request = JSON.parse(line);
  const result = check(request);
  process.stdout.write(
    JSON.stringify({ id: request.id === undefined ? null : request.id, ...result }) + '\n'
  );
});
