'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { GREETING, page } = require('../src/greet');

test('page greets and counts', () => {
  assert.strictEqual(page('', 7), `<p>${GREETING} (request #7)</p>\n`);
});

test('page escapes the name', () => {
  assert.match(page('<b>', 1), /&lt;b&gt;/);
});
