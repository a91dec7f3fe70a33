'use strict';
const escapeHtml = require('escape-html');

const GREETING = 'hello from the node greeter';

/** The page for a visitor name (HTML-escaped). */
function page(name, hits) {
  const who = name ? `, ${escapeHtml(name)}` : '';
  return `<p>${GREETING}${who} (request #${hits})</p>\n`;
}

module.exports = { GREETING, page };
